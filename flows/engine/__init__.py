"""Problems through their stages, concurrently, without Prefect (DESIGN.md §2).

``pipeline`` (formalize → check → solve → vote, as plain functions), ``dialogue`` (one problem
through an LLM: samples, repair), ``checks`` and ``languages``; ``core.Engine`` runs them in this
process, ``pool.EnginePool`` in ``worker`` processes (``prespawn`` starts them early); ``runs``
prepares a batch and ``outputs`` writes its files. Nothing here imports Prefect.
"""
