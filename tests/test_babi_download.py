"""bAbI download (tasks/babi/download.py): the archive is fetched, checked
and unpacked; a 404, a bad archive or a network error fails cleanly and
leaves no file behind.

The archives are served from a local http.server on 127.0.0.1 (the
`server` fixture); no test uses the network.
"""

import http.server
import io
import os
import threading

import pytest

from tasks import babi


@pytest.fixture
def server(monkeypatch):
  """(routes dict path -> bytes, base URL) of a local HTTP server."""
  monkeypatch.setenv('no_proxy', '*')
  monkeypatch.setenv('NO_PROXY', '*')
  routes = {}

  class Handler(http.server.BaseHTTPRequestHandler):

    def do_GET(self):  # pylint: disable=invalid-name
      body = routes.get(self.path)
      if body is None:
        self.send_error(404, 'Not Found')
        return
      self.send_response(200)
      self.send_header('Content-Type', 'application/gzip')
      self.send_header('Content-Length', str(len(body)))
      self.end_headers()
      self.wfile.write(body)

    def log_message(self, *args):
      pass

  httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
  thread = threading.Thread(target=httpd.serve_forever, daemon=True)
  thread.start()
  try:
    yield routes, f'http://127.0.0.1:{httpd.server_address[1]}'
  finally:
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def test_download_from_local_server_then_load(babi_files, tmp_path, server, capsys):
  routes, url = server
  body = babi_files.archive_bytes(babi_files.all_tasks(skip={(3, 'train')}))
  routes['/babi.tar.gz'] = body
  data_dir = tmp_path / 'new' / 'dir'
  data = babi.load(data_dir, download=True, url=url + '/babi.tar.gz',
                   log=None)
  archive = data_dir / babi.ARCHIVE_NAME
  assert archive.read_bytes() == body
  assert sorted(os.listdir(data_dir)) == [babi.CACHE_DIR, babi.ARCHIVE_NAME]
  err = capsys.readouterr().err
  assert '\r' in err and '100.0%' in err and babi.ARCHIVE_NAME in err
  assert data.source.startswith('archive ')
  assert data.missing_files == [babi_files.task_file(3, 'train')]
  # Data present: no second download (the route is gone).
  routes.clear()
  assert babi.load(data_dir, download=True, url=url + '/babi.tar.gz',
                   log=None).cache.startswith('loaded')


def test_download_http_404_fails_cleanly(tmp_path, server):
  _, url = server
  with pytest.raises(babi.BabiDataError) as info:
    babi.load(tmp_path, download=True, url=url + '/missing.tar.gz', log=None)
  message = str(info.value)
  assert '404' in message and babi.ARCHIVE_NAME in message
  assert str(tmp_path) in message
  assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('body,reason', [
    (b'\x1f\x8b\x08 this is not really gzip' * 50, 'not a valid gzip tar'),
    (None, 'does not contain'),  # an archive of the 1k set only
])
def test_download_bad_archive_fails_and_leaves_no_file(babi_files, tmp_path,
                                                       server, body, reason):
  routes, url = server
  if body is None:
    body = babi_files.archive_bytes(babi_files.all_tasks(), set_name='en')
  routes['/babi.tar.gz'] = body
  with pytest.raises(babi.BabiDataError, match=reason) as info:
    babi.fetch(tmp_path, url=url + '/babi.tar.gz', progress=io.StringIO(),
               log=None)
  assert 'by hand' in str(info.value)
  assert os.listdir(tmp_path) == []


def test_download_network_error(tmp_path, server):
  _, url = server
  port = int(url.rsplit(':', 1)[1])
  # A closed port on localhost: connection refused.
  import socket  # pylint: disable=import-outside-toplevel
  sock = socket.socket()
  sock.bind(('127.0.0.1', 0))
  closed = sock.getsockname()[1]
  sock.close()
  assert closed != port
  with pytest.raises(babi.BabiDataError, match='network error'):
    babi.fetch(tmp_path, url=f'http://127.0.0.1:{closed}/x.tar.gz',
               progress=io.StringIO(), log=None, timeout=5)
  assert os.listdir(tmp_path) == []
