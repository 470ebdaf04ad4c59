"""``nesyflow``: the commands (``commands``), the entry point that starts engine workers first
(``launch``), the fork server that pays the imports once (``forkserver``), and ``doctor``.
``python -m flows.cli`` runs the commands in this process."""
