"""The rendered view: each site loaded in the system's headless Chromium, judged and kept as screenshots.

cdp.py (DevTools client) · browser.py (start as an unprivileged account, measure, kill) · page.py (one
render) · visual.py (screenshot difference) · judge.py (render sensors + the defacement detector) ·
state.py (learning, hysteresis) · pool.py (workers, schedule, restarts) · storage.py (screenshots) ·
view.py (the collector's wiring) · cli.py (`govwatch deface render`). This package imports nothing
heavy at import time, so the collector runs (rendering off) where Pillow or websocket-client is missing.
"""
