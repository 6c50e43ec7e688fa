"""The Tkinter GUI of `stylexfer gui` (seed §5): widgets in `app`, state and the worker thread in
`controller` (which imports no Tk, so it is tested without a display)."""
