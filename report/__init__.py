"""The comparison report: every probed layer against the baselines and chance, as Markdown, HTML, JSON and PNG."""
