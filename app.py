"""Character Embeddings: `python app.py` serves the app (also the entry point on Hugging Face Spaces)."""

import logging

from charembed.ui import build_demo, launch_options

demo = build_demo()

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    demo.launch(**launch_options())
