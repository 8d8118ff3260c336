import os

# Set before any Qt import anywhere in the suite: tests never need a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
