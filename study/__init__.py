"""The study: the claims of the lab and the rules that judge them (rules, stats), the runs they
read and the cache that reuses them (runs), and the report with its plots (report, plots).

`reproduce.py` builds the plan on top of this package: which claim reads which runs."""
