"""The Gradio UI: one module per tab (each runnable alone), shared helpers and app state."""
