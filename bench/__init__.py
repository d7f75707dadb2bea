"""``streamguard bench``: StreamGuard against its floors and baselines on one machine and one broker.

Modules: ``stats`` (percentiles, run summaries), ``schedule`` (open-loop send times, the event mix),
``procstat`` (CPU and RSS of processes), ``loadgen`` (producer + independent score collector),
``floors`` (broker and model floors), ``systems`` (the systems under test as child processes),
``naive_app`` and ``fixed_window`` (the baseline workers), ``runner`` (orchestration) and ``report``
(markdown, JSON, PNG). ``make gpu-check``: ``gpu_check`` (the command), ``gpu_floors`` (one graph's
floor per batch size and batch independence on given providers) and ``gpu_report``. Nothing here is
imported by the serving path.
"""
