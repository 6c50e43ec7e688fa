"""The row of controls under the pictures: alpha, colour preservation, Stylize and Cancel."""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk

from stylexfer.gui import look
from stylexfer.gui.window import Window


class Controls(ttk.Frame):
    """Alpha (0 = content, 1 = full style) with its read-out, Preserve content colours, Stylize, Cancel."""

    def __init__(self, master: tk.Misc, app: Window) -> None:
        super().__init__(master)
        pad = app.pad
        ttk.Label(self, text="Alpha").pack(side="left")
        self.alpha_var = tk.DoubleVar(value=1.0)
        self.alpha_scale = ttk.Scale(self, from_=0.0, to=1.0, orient="horizontal", length=app.px(200),
                                     variable=self.alpha_var, command=self._alpha_moved)
        self.alpha_scale.pack(side="left", padx=pad)
        self.alpha_text = ttk.Label(self, text="1.00", width=5)
        self.alpha_text.pack(side="left")
        ttk.Label(self, text="(0 = content, 1 = full style)", style="Muted.TLabel").pack(side="left")
        self.preserve_var = tk.BooleanVar(value=False)
        self.preserve_check = ttk.Checkbutton(self, text="Preserve content colours", variable=self.preserve_var)
        self.preserve_check.pack(side="left", padx=pad * 2)
        self.cancel_button = ttk.Button(self, text="Cancel", command=app.cancel, state="disabled")
        self.cancel_button.pack(side="right")
        accent = "Accent.TButton" if look.sv_ttk is not None else "TButton"  # Sun Valley's accent colour
        self.stylize_button = ttk.Button(self, text="Stylize", style=accent, command=app.stylize)
        self.stylize_button.pack(side="right", padx=pad)

    @property
    def alpha(self) -> float:
        return round(self.alpha_var.get(), 2)

    def running(self, running: bool) -> None:
        """While a job runs: Stylize off, Cancel on; and back."""
        self.stylize_button.configure(state="disabled" if running else "normal")
        self.cancel_button.configure(state="normal" if running else "disabled")

    def _alpha_moved(self, _value: str) -> None:
        self.alpha_text.configure(text=f"{self.alpha_var.get():.2f}")
