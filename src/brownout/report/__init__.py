"""Self-contained HTML reports (``brownout report``): timeline, evidence, goodput."""
