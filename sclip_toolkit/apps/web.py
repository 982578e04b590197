"""The web app: drop an image, type your words, see every method on it side by side (Gradio).

    python app.py                                    # http://127.0.0.1:7860, OpenAI ViT-B/16 from ~/.cache/clip
    python app.py --checkpoint ViT-B-16.pt --device cuda --port 8080
    python app.py --host 0.0.0.0                     # reachable from other machines (no authentication!)

The page takes an image (or the bundled photo), classes in ``demo.py``'s syntax or a class-name file, and one or
several methods; it shows ``demo.py``'s picture (one overlay with its legend, or one panel per method), the legend
as a table with each method's share of the image, the class and score at a clicked pixel, and downloads of the
label maps (palette PNG), the picture and the JSON summary. Models are built on first use and kept.
"""
from __future__ import annotations

import argparse
import html
import logging
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

import gradio as gr

from ..cli.args import add_model_options, cfg_options
from ..exceptions import ToolkitError
from .service import AppOptions, SegmentationService, UserError, load_rgb
from .settings import SETTINGS, method_defaults

LOG = logging.getLogger('sclip_toolkit.app')
DEFAULT_PORT = 7860
PIXEL_COLUMNS = ['method', 'x (column)', 'y (row)', 'class', 'score']
CLASSES_HINT = 'sky, cloud; tree; person, man, woman'

CSS = """
.sclip-status { padding: 0.5em 0.75em; border-radius: 6px; }
.sclip-status.ok { background: #eef7ee; }
.sclip-status.error { background: #fdecea; color: #8a1c12; font-weight: 600; }
.sclip-notice { padding: 0.5em 0.75em; border-radius: 6px; background: #fff4ce; font-weight: 600; }
.sclip-weights { font-size: 0.9em; color: #555; }
.sclip-legend, .sclip-pixel { border-collapse: collapse; }
.sclip-legend td, .sclip-legend th, .sclip-pixel td, .sclip-pixel th { padding: 2px 10px; text-align: left; }
#defaults table { font-size: 0.85em; }
#defaults td, #defaults th { padding: 1px 5px; }
.sclip-legend td.share { text-align: right; font-variant-numeric: tabular-nums; }
.sclip-legend .swatch { display: inline-block; width: 1.2em; height: 1.2em; border: 1px solid #333;
                        vertical-align: middle; }
"""


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--host', default='127.0.0.1', help='address to serve on (default: 127.0.0.1, this machine only)')
    ap.add_argument('--port', type=int, default=DEFAULT_PORT, help=f'port (default: {DEFAULT_PORT})')
    add_model_options(ap, example='model.logit_scale=50 (every method, as in demo.py)')
    ap.add_argument('--max-side', type=int, default=AppOptions.max_side,
                    help=f'images with a longer side are scaled down to it (default: {AppOptions.max_side})')
    ap.add_argument('--max-classes', type=int, default=AppOptions.max_classes,
                    help=f'most classes per request (default: {AppOptions.max_classes})')
    ap.add_argument('--concurrency', type=int, default=AppOptions.concurrency,
                    help='requests segmenting at once; others wait in the queue (default: 1)')
    ap.add_argument('--queue-size', type=int, default=AppOptions.queue_size,
                    help=f'requests waiting at most (default: {AppOptions.queue_size})')
    ap.add_argument('--notice', help='a line shown at the top of the page, e.g. "random weights: meaningless output"')
    return ap


def options_from_args(args: argparse.Namespace) -> AppOptions:
    """The app's options from its parsed arguments (raises ConfigError for a bad ``--cfg-options`` item)."""
    return AppOptions(backbone=args.backbone, checkpoint=args.checkpoint, vfm_checkpoint=args.vfm_checkpoint,
                      pretrained=args.pretrained, device=args.device, download=args.download,
                      cfg_options=cfg_options(args) or None, max_side=args.max_side, max_classes=args.max_classes,
                      concurrency=args.concurrency, queue_size=args.queue_size, notice=args.notice)


def weights_note(options: AppOptions) -> str:
    """One line on the CLIP weights the models will load, or where to put them when they are missing."""
    from ..apis import split_backbone
    from ..models.checkpoint import default_cache_dir, normalize_openai_name, openai_clip_urls

    backbone, checkpoint = split_backbone(options.backbone, options.checkpoint)
    if checkpoint:
        return f'CLIP weights: {checkpoint}'
    backbone = backbone or 'ViT-B/16'
    if options.pretrained and options.pretrained != 'openai':
        return f'CLIP weights: open_clip {backbone} ({options.pretrained}), loaded on the first run'
    official = normalize_openai_name(backbone)
    if official is None:
        return f'CLIP weights: {backbone} is not an OpenAI release; give --pretrained TAG or --checkpoint FILE'
    target = default_cache_dir() / os.path.basename(openai_clip_urls()[official])
    if target.is_file():
        return f'CLIP weights: {target}'
    where = (f'No CLIP weights yet: put {target.name} ({official}) in {target.parent} (or set SCLIP_CLIP_CACHE to '
             f'its folder)')
    if options.download:
        return f'{where}, or let the first run download them.'
    return f'{where}, restart the app with --checkpoint FILE, or with --download when online.'


def _html(kind: str, text: str) -> str:
    return f'<div class="sclip-status {kind}">{"Error: " if kind == "error" else ""}{html.escape(text)}</div>'


def defaults_table(methods: Sequence[str], backbone: Optional[str]) -> str:
    """HTML table of every method's own value of each advanced setting ('-': does not apply)."""
    short = dict(logit_scale='logit scale', prob_thd='threshold', pamr_steps='PAMR', crop_size='crop',
                 stride='stride')
    head = '<th>method</th>' + ''.join(f'<th>{short[k]}</th>' for k in SETTINGS)
    rows = []
    for method in methods:
        values = method_defaults(method, backbone)
        cells = ''.join(f'<td>{"-" if values[k] is None else format(values[k], "g")}</td>' for k in SETTINGS)
        rows.append(f'<tr><td>{html.escape(method)}</td>{cells}</tr>')
    return (f"<div class='sclip-weights'>Each method's own values:</div><table class='sclip-pixel'><thead><tr>"
            f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def pixel_table(rows) -> str:
    """The clicked pixel's table: one row per method (method, column, row, class, score)."""
    if not rows:
        return '<div class="sclip-weights">Click the result picture to see the class and score at a pixel.</div>'
    head = ''.join(f'<th>{c}</th>' for c in PIXEL_COLUMNS)
    body = ''.join('<tr>' + ''.join(f'<td>{html.escape(str(v))}</td>' for v in row) + '</tr>' for row in rows)
    return f'<table class="sclip-pixel"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def build_app(service: SegmentationService):
    """The Gradio page around ``service``; its queue lets ``options.concurrency`` requests segment at once."""
    import torch

    from ..apis import EXAMPLE_CLASSES, EXAMPLE_IMAGE

    options = service.options

    def on_image(path: Optional[str]):
        if not path:
            return None, ''
        try:
            rgb, original = load_rgb(path, options.max_side)
        except UserError as exc:
            return None, _html('error', str(exc))
        height, width = rgb.shape[:2]
        note = f'{Path(path).name}: {width}x{height}'
        if original:
            note += f' (scaled down from {original[0]}x{original[1]}; the limit is {options.max_side} a side)'
        return rgb, _html('ok', note)

    def on_example():
        return str(EXAMPLE_IMAGE), '; '.join(EXAMPLE_CLASSES)

    def on_run(image_path, classes_text, class_file, methods, logit_scale, prob_thd, pamr_steps, crop_size, stride,
               progress=gr.Progress()):
        settings = dict(logit_scale=logit_scale, prob_thd=prob_thd, pamr_steps=pamr_steps, crop_size=crop_size,
                        stride=stride)
        failed = (None, '', None, None, pixel_table([]))
        try:
            out = service.segment(image_path, classes_text, class_file, methods, settings,
                                  report=lambda fraction, text: progress(fraction, desc=text))
        except UserError as exc:
            return (_html('error', str(exc)),) + failed
        except (torch.OutOfMemoryError, MemoryError):
            return (_html('error', 'out of memory: try a smaller image, fewer classes or one method at a time'),
                    ) + failed
        except Exception as exc:  # never a stack trace in the page; the server log has it
            LOG.exception('request failed')
            return (_html('error', f'internal error ({type(exc).__name__}: {exc}); the server log has the '
                                   f'details'),) + failed
        return _html('ok', out.status), out.picture, out.legend, out.files, out.lookup, pixel_table([])

    def on_select(lookup, evt: gr.SelectData):  # Gradio finds the event by this hint: gr must be a module global
        if lookup is None or not isinstance(evt.index, (list, tuple)):
            return pixel_table([])
        return pixel_table(lookup.rows(*evt.index[:2]))

    with gr.Blocks(title='sclip_toolkit: segment with your own words', analytics_enabled=False,
                   delete_cache=(1800, 3600)) as demo:
        gr.Markdown('## Open-vocabulary segmentation with CLIP\nUpload an image, say what to look for, pick one '
                    'method or several, and compare.')
        if options.notice:
            gr.HTML(f'<div class="sclip-notice">{html.escape(options.notice)}</div>', elem_id='notice')
        gr.HTML(f'<div class="sclip-weights">{html.escape(weights_note(options))}</div>', elem_id='weights')
        lookup = gr.State(None, time_to_live=3600)  # a run's label maps, for clicks; freed an hour later
        with gr.Row():
            with gr.Column(scale=1, min_width=360):
                image_file = gr.File(label='Image', file_types=['image'], elem_id='image-file')
                example = gr.Button('Use the example photo', size='sm', elem_id='example')
                preview = gr.Image(label='Image as segmented', interactive=False, format='png', height=220,
                                   elem_id='preview')
                image_info = gr.HTML(elem_id='image-info')
                classes = gr.Textbox(label='Classes', placeholder=CLASSES_HINT, lines=2, elem_id='classes',
                                     info="';' between classes, ',' between names of one class")
                class_file = gr.File(label='…or a class-name file (one class per line; used instead of the text)',
                                     file_types=['.txt'], height=150, elem_id='class-file')
                methods = gr.CheckboxGroup(service.methods, value=[service.methods[0]], label='Methods',
                                           info='several: one panel each, same classes and colours',
                                           elem_id='methods')
                with gr.Accordion('Advanced settings (empty: each method\'s own)', open=False, elem_id='advanced'):
                    # Text fields, since an empty one means "the method's own" (a number field would send 0).
                    fields = []
                    for keys in (list(SETTINGS)[:3], list(SETTINGS)[3:]):
                        with gr.Row():
                            fields += [gr.Textbox('', label=SETTINGS[k][0], info=SETTINGS[k][1], max_lines=1,
                                                  placeholder="method's own", elem_id=k.replace('_', '-'),
                                                  min_width=100) for k in keys]
                    gr.HTML(defaults_table(service.methods, options.backbone), elem_id='defaults')
                run = gr.Button('Segment', variant='primary', elem_id='run')
            with gr.Column(scale=2):
                status = gr.HTML(elem_id='status')
                result = gr.Image(label='Result (click a pixel: class and score below)', interactive=False,
                                  format='png', elem_id='result')
                legend = gr.HTML(elem_id='legend')
                pixel = gr.HTML(pixel_table([]), elem_id='pixel')
                downloads = gr.File(label='Downloads: label maps (palette PNG), picture, JSON summary',
                                    file_count='multiple', interactive=False, elem_id='downloads')
        image_file.change(on_image, image_file, [preview, image_info], concurrency_limit=4)
        example.click(on_example, None, [image_file, classes], concurrency_limit=4)
        run.click(on_run, [image_file, classes, class_file, methods, *fields],
                  [status, result, legend, downloads, lookup, pixel], concurrency_id='segment',
                  concurrency_limit=options.concurrency, api_name='segment')
        result.select(on_select, lookup, pixel, concurrency_limit=4)
    demo.queue(default_concurrency_limit=options.concurrency, max_size=options.queue_size)
    return demo


def launch(demo, host: str = '127.0.0.1', port: int = DEFAULT_PORT, block: bool = True, quiet: bool = False):
    """Serve ``demo``; with ``block=False`` return once it listens (tests)."""
    from ..apis import EXAMPLE_IMAGE

    return demo.launch(server_name=host, server_port=port, ssr_mode=False, show_error=False, quiet=quiet,
                       prevent_thread_lock=not block, allowed_paths=[str(EXAMPLE_IMAGE.parent)], css=CSS,
                       footer_links=['gradio'], max_file_size='50mb')


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ('checkpoint', 'vfm_checkpoint'):
        path = getattr(args, name)
        if path and not Path(path).expanduser().is_file():
            print(f'app.py: error: --{name.replace("_", "-")} {path}: no such file', file=sys.stderr)
            return 2
    for name in ('max_side', 'max_classes', 'concurrency', 'queue_size'):
        if getattr(args, name) < 1:
            print(f'app.py: error: --{name.replace("_", "-")} must be at least 1', file=sys.stderr)
            return 2
    os.environ.setdefault('GRADIO_ANALYTICS_ENABLED', 'False')  # no calls home from an offline lab machine
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter('[sclip_toolkit.app] %(message)s'))
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    try:
        options = options_from_args(args)
    except ToolkitError as exc:
        print(f'app.py: error: {exc}', file=sys.stderr)
        return 2
    service = SegmentationService(options)
    LOG.info(weights_note(service.options))
    try:
        launch(build_app(service), args.host, args.port)
    except OSError as exc:  # port taken, address not available
        print(f'app.py: error: cannot serve on {args.host}:{args.port}: {exc}', file=sys.stderr)
        return 2
    return 0
