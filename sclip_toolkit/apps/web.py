"""The web app: drop an image, type your words, see every method on it side by side (Gradio).

    python app.py                                    # http://127.0.0.1:7860, OpenAI ViT-B/16 from ~/.cache/clip
    python app.py --checkpoint ViT-B-16.pt --device cuda --port 8080
    python app.py --host 0.0.0.0                     # reachable from other machines (no authentication!)

The page takes an image (or the bundled photo), classes in ``demo.py``'s syntax or a class-name file, and the
methods that can run with the weights at hand (the others are shown disabled, with what they need); it shows
``demo.py``'s picture (one overlay with its legend, or one panel per method plus each method's overlay), the
legend as a table with each method's share of the image, the class and score at a clicked pixel, and downloads of
the label maps (palette PNG), the pictures and the JSON summary (every setting used and the ``demo.py`` command
that repeats the run). Models are built on first use and kept.

Served on this machine only (the default), requests with another Host or Origin are refused.
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
from .page import BUSY, CSS, Admission, defaults_table, pixel_table, readiness_html, status_html, weights_note
from .service import AppOptions, SegmentationService, UserError
from .settings import SETTINGS, SettingsError, settings_to_cfg_options

LOG = logging.getLogger('sclip_toolkit.app')
DEFAULT_PORT = 7860
CLASSES_HINT = 'sky, cloud; tree; person, man, woman'


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--host', default='127.0.0.1', help='address to serve on (default: 127.0.0.1, this machine only)')
    ap.add_argument('--port', type=int, default=DEFAULT_PORT, help=f'port (default: {DEFAULT_PORT})')
    add_model_options(ap, example='model.logit_scale=50 (every method, as in demo.py)')
    ap.add_argument('--max-side', type=int, default=AppOptions.max_side,
                    help=f'images with a longer side are scaled down to it (default: {AppOptions.max_side})')
    ap.add_argument('--max-megapixels', type=float, default=AppOptions.max_pixels / 1e6,
                    help='refuse images with more pixels, read from the file header before decoding (default: '
                         f'{AppOptions.max_pixels / 1e6:g})')
    ap.add_argument('--max-classes', type=int, default=AppOptions.max_classes,
                    help=f'most classes per request (default: {AppOptions.max_classes})')
    ap.add_argument('--max-name-length', type=int, default=AppOptions.max_name_length,
                    help=f'most characters of a class name (default: {AppOptions.max_name_length})')
    ap.add_argument('--concurrency', type=int, default=AppOptions.concurrency,
                    help='requests segmenting at once; others wait in the queue (default: 1)')
    ap.add_argument('--queue-size', type=int, default=AppOptions.queue_size,
                    help=f'requests waiting at most (default: {AppOptions.queue_size})')
    ap.add_argument('--show-paths', action='store_true',
                    help="show the server's file paths in the page and the JSON (default: file names only)")
    ap.add_argument('--notice', help='a line shown at the top of the page, e.g. "random weights: meaningless output"')
    return ap


def options_from_args(args: argparse.Namespace) -> AppOptions:
    """The app's options from its parsed arguments (raises ConfigError for a bad ``--cfg-options`` item)."""
    return AppOptions(backbone=args.backbone, checkpoint=args.checkpoint, vfm_checkpoint=args.vfm_checkpoint,
                      pretrained=args.pretrained, device=args.device, download=args.download,
                      cfg_options=cfg_options(args) or None, sam_checkpoint=args.sam_checkpoint,
                      sam_refine=args.sam_refine, max_side=args.max_side,
                      max_pixels=round(args.max_megapixels * 1e6), max_classes=args.max_classes,
                      max_name_length=args.max_name_length,
                      concurrency=args.concurrency, queue_size=args.queue_size, notice=args.notice,
                      show_paths=args.show_paths)


def check_settings(service: SegmentationService, methods, *values) -> str:
    """The advanced settings checked as they are typed: '' when they are valid for every ticked method, else the
    first problem (the result on the page stays as it is)."""
    settings = dict(zip(SETTINGS, values))
    for method in [m for m in (methods or []) if m in service.methods]:
        try:
            settings_to_cfg_options(method, settings, service.options.backbone)
        except SettingsError as exc:
            return status_html('error', str(exc))
    return ''


def build_app(service: SegmentationService):
    """The Gradio page around ``service``; its queue lets ``options.concurrency`` requests segment at once."""
    import torch

    from ..apis import EXAMPLE_CLASSES, EXAMPLE_IMAGE

    options = service.options
    admission = Admission(options.concurrency + options.queue_size)
    ready = [m for m in service.methods if not service.readiness.get(m)]
    keep = gr.update()

    def on_image(path: Optional[str]):
        if not path:
            return None, ''
        try:
            rgb, original = service.load(path)
        except UserError as exc:
            return None, status_html('error', str(exc))
        height, width = rgb.shape[:2]
        note = f'{Path(path).name}: {width}x{height}'
        if original:
            note += f' (scaled down from {original[0]}x{original[1]}; the limit is {options.max_side} a side)'
        return rgb, status_html('ok', note)

    def on_example():
        return str(EXAMPLE_IMAGE), '; '.join(EXAMPLE_CLASSES)

    def admit(request: gr.Request):
        if not admission.enter(request.session_hash if request else ''):
            raise gr.Error(BUSY, title='Busy', print_exception=False)

    def on_run(image_path, classes_text, class_file, methods, logit_scale, prob_thd, pamr_steps, crop_size, stride,
               request: gr.Request, progress=gr.Progress()):
        settings = dict(logit_scale=logit_scale, prob_thd=prob_thd, pamr_steps=pamr_steps, crop_size=crop_size,
                        stride=stride)
        unchanged = (keep,) * 6  # a failed run leaves the last good result on the page
        try:
            out = service.segment(image_path, classes_text, class_file, methods, settings,
                                  report=lambda fraction, text: progress(fraction, desc=text))
        except UserError as exc:
            return (status_html('error', str(exc)),) + unchanged
        except (torch.OutOfMemoryError, MemoryError):
            return (status_html('error', 'out of memory: try a smaller image, fewer classes or one method at a '
                                         'time'),) + unchanged
        except Exception as exc:  # never a stack trace in the page; the server log has it
            LOG.exception('request failed')
            return (status_html('error', f'internal error ({type(exc).__name__}); the server log has the '
                                         f'details'),) + unchanged
        finally:
            admission.leave(request.session_hash if request else None)
        names = [name for name, _ in out.views]
        run_state = dict(key=out.lookup_key, views=dict(out.views))
        return (status_html('ok', out.status), out.views[0][1], out.legend, out.files, run_state, pixel_table([]),
                gr.update(choices=names, value=names[0], visible=len(names) > 1))

    def on_view(run_state, view):
        if not run_state or view not in run_state['views']:
            return keep
        return run_state['views'][view]

    def on_select(run_state, view, evt: gr.SelectData):  # Gradio finds the event by this hint: gr is a module global
        if not run_state or not isinstance(evt.index, (list, tuple)):
            return pixel_table([])
        lookup = service.lookups.get(run_state['key'])
        if lookup is None:
            return pixel_table([], note='The click data of this run was dropped to make room for newer runs; '
                                        'segment again to click.')
        return pixel_table(lookup.rows(view, *evt.index[:2]))

    with gr.Blocks(title='sclip_toolkit: segment with your own words', analytics_enabled=False,
                   delete_cache=(1800, 3600)) as demo:
        gr.Markdown('## Open-vocabulary segmentation with CLIP')
        if options.notice:
            gr.HTML(f'<div class="sclip-notice">{html.escape(options.notice)}</div>', elem_id='notice')
        gr.HTML(f'<div class="sclip-weights">{html.escape(weights_note(options))}</div>', elem_id='weights')
        run_state = gr.State(None, time_to_live=3600)  # the run's key in service.lookups and its pictures' files
        with gr.Row():
            with gr.Column(scale=1, min_width=360):
                with gr.Row():
                    with gr.Column(scale=3, min_width=200):
                        image_file = gr.File(label='Image', file_types=['image'], elem_id='image-file', height=110)
                        example = gr.Button('Use the example photo', size='sm', elem_id='example')
                    with gr.Column(scale=2, min_width=120):
                        preview = gr.Image(label='As segmented', interactive=False, format='png', height=110,
                                           elem_id='preview')
                        image_info = gr.HTML(elem_id='image-info')
                classes = gr.Textbox(label='Classes', placeholder=CLASSES_HINT, lines=2, elem_id='classes',
                                     info="';' between classes, ',' between names of one class")
                class_file = gr.File(label='…or a class-name file (one class per line; used instead of the text)',
                                     file_types=['.txt'], height=110, elem_id='class-file')
                default = service.default_method
                methods = gr.CheckboxGroup(ready, value=[default] if default else [], label='Methods',
                                           info='several: one panel each, same classes and colours',
                                           elem_id='methods')
                gr.HTML(readiness_html(service.readiness), elem_id='unready')
                run = gr.Button('Segment', variant='primary', elem_id='run')
                with gr.Accordion("Advanced settings (empty: each method's own)", open=False, elem_id='advanced'):
                    # Text fields, since an empty one means "the method's own" (a number field would send 0).
                    fields = []
                    for keys in (list(SETTINGS)[:2], list(SETTINGS)[2:]):
                        with gr.Row():
                            fields += [gr.Textbox('', label=SETTINGS[k][0], info=SETTINGS[k][1], max_lines=1,
                                                  placeholder='default', elem_id=k.replace('_', '-'),
                                                  min_width=120) for k in keys]
                    settings_check = gr.HTML(elem_id='settings-check')
                    gr.HTML(defaults_table(service.methods, options.backbone), elem_id='defaults')
            with gr.Column(scale=2):
                status = gr.HTML(elem_id='status')
                view = gr.Radio([], label='Show', visible=False, elem_id='view')
                gr.HTML('<div class="sclip-weights">Result: click a pixel to see its class and score below.</div>')
                result = gr.Image(show_label=False, interactive=False, format='png', elem_id='result')
                legend = gr.HTML(elem_id='legend')
                pixel = gr.HTML(pixel_table([]), elem_id='pixel')
                downloads = gr.File(label='Downloads: label maps (palette PNG), pictures, JSON summary',
                                    file_count='multiple', interactive=False, elem_id='downloads')
        # Cheap events skip the queue, so a full queue never breaks the preview or the settings check.
        image_file.change(on_image, image_file, [preview, image_info], queue=False)
        example.click(on_example, None, [image_file, classes], queue=False)
        for box in fields:
            box.change(lambda m, *v: check_settings(service, m, *v), [methods, *fields], settings_check,
                       queue=False, show_progress='hidden')
        # The admission goes through the queue (its own group, never waiting): only there does Gradio show a
        # raised message as a toast. A refused run changes nothing on the page.
        run.click(admit, None, None, concurrency_limit=None, concurrency_id='admit', show_progress='hidden').success(
            on_run, [image_file, classes, class_file, methods, *fields],
            [status, result, legend, downloads, run_state, pixel, view], concurrency_id='segment',
            concurrency_limit=options.concurrency, api_name='segment')
        view.change(on_view, [run_state, view], result, queue=False)
        result.select(on_select, [run_state, view], pixel, concurrency_limit=4)
    # Page runs are admitted above; the queue's own bound is for API clients that skip the admission.
    demo.queue(default_concurrency_limit=options.concurrency, max_size=2 * (options.concurrency + options.queue_size))
    return demo


def launch(demo, host: str = '127.0.0.1', port: int = DEFAULT_PORT, block: bool = True, quiet: bool = False):
    """Serve ``demo``; with ``block=False`` return once it listens (tests). Bound to this machine, requests with a
    foreign Host or Origin header are refused (:class:`~sclip_toolkit.apps.runtime.LocalOnlyMiddleware`); only the
    bundled example photo is served from the package's files."""
    from starlette.middleware import Middleware

    from ..apis import EXAMPLE_IMAGE
    from .runtime import LocalOnlyMiddleware, is_local_bind

    middleware = [Middleware(LocalOnlyMiddleware)] if is_local_bind(host) else []
    return demo.launch(server_name=host, server_port=port, ssr_mode=False, show_error=False, quiet=quiet,
                       prevent_thread_lock=not block, allowed_paths=[str(EXAMPLE_IMAGE)], css=CSS,
                       footer_links=['gradio'], max_file_size='50mb', strict_cors=True,
                       app_kwargs=dict(middleware=middleware))


def main(argv: Optional[Sequence[str]] = None) -> int:
    from .runtime import make_work_dir

    args = build_parser().parse_args(argv)
    for name in ('checkpoint', 'vfm_checkpoint'):
        path = getattr(args, name)
        if path and not Path(path).expanduser().is_file():
            print(f'app.py: error: --{name.replace("_", "-")} {path}: no such file', file=sys.stderr)
            return 2
    for name in ('max_side', 'max_classes', 'max_name_length', 'concurrency', 'queue_size'):
        if getattr(args, name) < 1:
            print(f'app.py: error: --{name.replace("_", "-")} must be at least 1', file=sys.stderr)
            return 2
    if not args.max_megapixels > 0:
        print('app.py: error: --max-megapixels must be above 0', file=sys.stderr)
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
    work_dir = make_work_dir()  # removed on exit and SIGTERM; those of dead servers are removed now
    os.environ['GRADIO_TEMP_DIR'] = str(work_dir / 'uploads')  # Gradio's uploads and cache go there too
    service = SegmentationService(options, work_dir=work_dir / 'runs')
    LOG.info(weights_note(service.options))
    try:
        launch(build_app(service), args.host, args.port)
    except OSError as exc:  # port taken, address not available
        print(f'app.py: error: cannot serve on {args.host}:{args.port}: {exc}', file=sys.stderr)
        return 2
    return 0
