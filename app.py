"""The web app: drop an image, type your words, compare methods side by side in the browser.

    python app.py                                   # then open http://127.0.0.1:7860
    python app.py --checkpoint ViT-B-16.pt --device cuda --port 8080

Options as demo.py (--backbone, --checkpoint, --vfm-checkpoint, --device, ...); see python app.py --help.
"""
import sys

from sclip_toolkit.apps.web import main

if __name__ == '__main__':
    sys.exit(main())
