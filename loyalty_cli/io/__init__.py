"""CSV in and CSV/JSON out: the streaming import and the export."""
