"""Self-contained HTML reports of cohort results: ``fastseg report``, ``evaluate --report``,
``compare --report``.

One file that opens without network access (inline SVG plots and CSS). The plots need matplotlib:
``pip install 'fastseg[report]'``; :func:`require_matplotlib` says so before a long run starts.

=================================  ==============================================================
:mod:`~fastseg.report.cohort`      one run: summary, distributions, cases worst first, options
:mod:`~fastseg.report.paired`      two runs compared: paired plots with bootstrap intervals
:mod:`~fastseg.report.plots`       the matplotlib figures, as inline SVG
:mod:`~fastseg.report.html`        the page, its style, tables and the texts that explain
=================================  ==============================================================
"""
from .cohort import report_html, write_report
from .paired import compare_html, write_compare_report
from .plots import require_matplotlib

__all__ = ["report_html", "write_report", "compare_html", "write_compare_report", "require_matplotlib"]
