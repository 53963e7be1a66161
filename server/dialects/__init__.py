"""The doors: one codec per client API, decoding into a ``Job`` and encoding the event stream back."""
