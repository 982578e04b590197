"""The served app probed with raw HTTP requests on 127.0.0.1: Host and Origin checks, the files it serves, and the
limits as an API client meets them."""
from __future__ import annotations

import http.client
import uuid

import pytest

from sclip_toolkit.apis import EXAMPLE_IMAGE
from sclip_toolkit.apps.service import AppOptions, SegmentationService
from sclip_toolkit.testing import free_port
from tests.apis.test_inputs import bomb_png

gradio = pytest.importorskip('gradio', reason='gradio is not installed (pip install -r requirements.txt)')
FAST = {'model.data_preprocessor.short_side': 112}


def _serve(tiny_clip_path, work_dir, host='127.0.0.1'):
    from sclip_toolkit.apps.web import build_app, launch

    options = AppOptions(checkpoint=str(tiny_clip_path), device='cpu', cfg_options=FAST, max_side=400)
    demo = build_app(SegmentationService(options, work_dir=work_dir))
    port = free_port()
    launch(demo, host=host, port=port, block=False, quiet=True)
    return demo, port


@pytest.fixture(scope='module')
def port(tiny_clip_path, tmp_path_factory):
    demo, port = _serve(tiny_clip_path, tmp_path_factory.mktemp('runs'))
    yield port
    demo.close()


def request(port: int, method: str, path: str, host: str = None, headers: dict = None, body: bytes = None):
    """(status, body) of one raw request to 127.0.0.1:port with exactly the given Host header."""
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader('Host', host or f'127.0.0.1:{port}')
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        if body is not None:
            conn.putheader('Content-Length', str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def multipart(name: str, data: bytes):
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            f'Content-Type: application/octet-stream\r\n\r\n').encode() + data + f'\r\n--{boundary}--\r\n'.encode()
    return body, {'Content-Type': f'multipart/form-data; boundary={boundary}'}


def test_only_local_host_names_are_served(port):
    for host in (f'127.0.0.1:{port}', f'localhost:{port}', f'[::1]:{port}'):
        assert request(port, 'GET', '/', host=host)[0] == 200, host
    for host in (f'evil.example:{port}', 'rebind.attacker.test', f'127.0.0.1.nip.io:{port}'):
        status, body = request(port, 'GET', '/', host=host)
        assert status == 403 and b'is not this machine' in body, host


def test_cross_site_uploads_are_refused(port):
    body, headers = multipart('x.png', EXAMPLE_IMAGE.read_bytes())
    status, text = request(port, 'POST', '/gradio_api/upload', headers=dict(headers, Origin='http://evil.example'),
                           body=body)
    assert status == 403 and b'evil.example' in text
    assert request(port, 'POST', '/gradio_api/upload', headers=dict(headers, Origin='null'), body=body)[0] == 403
    status, text = request(port, 'POST', '/gradio_api/upload',
                           headers=dict(headers, Origin=f'http://127.0.0.1:{port}'), body=body)
    assert status == 200 and b'x.png' in text


def test_only_the_files_the_page_uses_are_served(port):
    assets = EXAMPLE_IMAGE.parent
    assert (assets / 'README.md').is_file()
    status, _ = request(port, 'GET', f'/gradio_api/file={assets / "README.md"}')
    assert status in (403, 404)
    status, data = request(port, 'GET', f'/gradio_api/file={EXAMPLE_IMAGE}')
    assert status == 200 and data == EXAMPLE_IMAGE.read_bytes()


def test_any_host_accepted_when_serving_all_interfaces(tiny_clip_path, tmp_path):
    demo, port = _serve(tiny_clip_path, tmp_path, host='0.0.0.0')
    try:
        assert request(port, 'GET', '/', host=f'myserver.lab:{port}')[0] == 200
    finally:
        demo.close()


def test_limits_met_by_an_api_client(port, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(f'http://127.0.0.1:{port}/', verbose=False)
    bomb = bomb_png(tmp_path / 'bomb.png')
    empty = ('',) * 5
    status = client.predict(handle_file(str(bomb)), 'cup; table', None, ['sclip'], *empty, api_name='/segment')[0]
    assert 'bomb.png: the picture has 30000x30000 = 900 megapixels' in status and 'limit' in status
    status = client.predict(handle_file(str(EXAMPLE_IMAGE)), 'cup; ' + 'x' * 5000, None, ['sclip'], *empty,
                            api_name='/segment')[0]
    assert 'a name of 5000 characters' in status and 'at most 200 characters' in status
