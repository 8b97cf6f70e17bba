"""Entry point of the single binary (PyInstaller needs a script, not a module)."""
from silvereye.cli import main

main()
