"""Prefect: the ``batch`` and ``reason`` flows and their chunk task, the summaries, tables and
chart a run publishes, deployments (``serve``), the local server, keeping a flow run from
outliving its server (``supervise``) and marking runs whose process died (``recovery``)."""
