"""The desktop app (PySide6 + pyqtgraph). Imported lazily: the command line never loads Qt."""
