"""HTTP probe against loopback servers: parsed fields, vendor paths, bounds and hostile answers."""

from __future__ import annotations

import asyncio
import base64
import hashlib

import mmh3
import pytest

from camaudit.observation import ProbeStatus
from camaudit.probes.http import FAVICON, PATHS, RPC2_PATH, HttpProbe, favicon_hashes, title_of

TABLE = {p.path for p in PATHS} | {FAVICON, RPC2_PATH}
ICON = bytes(range(256)) * 3


def probe(lb, handler, **bounds):
    async def work(port):
        return await HttpProbe().probe(lb.host(), port, lb.ctx(**bounds))
    return lb.run(handler, work)


def by_path(observations):
    return {o.data.get("path"): o for o in observations}


def test_hikvision_like_device_yields_banner_paths_and_favicon(lb, answer):
    answers = {
        "/": answer("HTTP/1.1 200 OK", [("Server", "App-webs/")],
                    b"<html><head><TITLE> Hik  &amp; login </TITLE></head></html>"),
        "/doc/page/login.asp": answer("HTTP/1.1 200 OK", [("Server", "App-webs/")], b"<title>Login</title>"),
        "/ISAPI/Security/userCheck": answer(
            "HTTP/1.1 401 Unauthorized",
            [("Server", "App-webs/"), ("WWW-Authenticate", 'Digest realm="Hikvision", nonce="abc"')]),
        FAVICON: answer("HTTP/1.1 200 OK", [("Content-Type", "image/x-icon")], ICON),
    }
    obs = probe(lb, lb.canned(answers))
    paths = by_path(obs)
    assert all(o.source == "http" and o.ip == lb.ip for o in obs)
    root = paths["/"]
    assert root.status is ProbeStatus.OK
    assert root.data["status"] == 200 and root.data["headers"]["Server"] == "App-webs/"
    assert root.data["title"] == "Hik & login"
    assert paths["/ISAPI/Security/userCheck"].data["status"] == 401
    assert 'realm="Hikvision"' in paths["/ISAPI/Security/userCheck"].data["headers"]["WWW-Authenticate"]
    assert paths["/cgi-bin/magicBox.cgi?action=getVendor"].data["status"] == 404
    icon = paths[FAVICON].data
    assert icon["favicon_md5"] == hashlib.md5(ICON).hexdigest()
    assert icon["favicon_mmh3"] == mmh3.hash(base64.encodebytes(ICON))
    assert RPC2_PATH not in paths          # nothing looked like Dahua: no challenge sent
    assert {line.split()[1] for line in lb.request_lines()} <= TABLE
    assert all(line.startswith("GET ") for line in lb.request_lines())


def test_favicon_hash_follows_shodan_convention():
    # base64 with a newline every 76 characters and a trailing newline, then signed mmh3
    icon = b"\x00" * 100
    encoded = base64.b64encode(icon)
    shodan = b"\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76)) + b"\n"
    assert favicon_hashes(icon)["favicon_mmh3"] == mmh3.hash(shodan)


def test_device_quirks_are_tolerated(lb):
    # upper-case names, no reason phrase, bare LF line ends, a folded header, duplicate names
    raw = (b"HTTP/1.0 200\nCONNECTION: close\nCONTENT-LENGTH: 26\nP3P: CP=CAO PSA OUR\n"
           b"X-Multi: a\nx-multi: b\nX-Fold: one\n two\n\n<title>WEB SERVICE</title>")
    obs = probe(lb, lb.canned({"/": raw}))
    root = by_path(obs)["/"]
    assert root.status is ProbeStatus.OK
    assert root.data["headers"]["CONNECTION"] == "close"
    assert root.data["headers"]["X-Multi"] == "a, b"
    assert root.data["headers"]["X-Fold"] == "one two"
    assert root.data["title"] == "WEB SERVICE"


def test_dahua_markers_trigger_one_rpc2_challenge_per_host_across_ports(lb, answer):
    page = answer("HTTP/1.1 200 OK", [("CONTENT-TYPE", "text/html")],
                  b'<title>WEB SERVICE</title><script src="jsBase/lib/jquery.js?version=@WebVersion@"></script>')
    challenge = answer("HTTP/1.1 200 OK", [("Content-Type", "application/json")],
                       b'{"error":{"code":268632079,"message":"Component error: login challenge!"},'
                       b'"params":{"encryption":"Default","random":"123","realm":"Login to 4M0000"}}')
    handler = lb.canned({"/": page, RPC2_PATH: challenge})

    async def work(port):
        ctx, p = lb.ctx(), HttpProbe()
        first = await p.probe(lb.host(), port, ctx)
        second = await p.probe(lb.host(), port, ctx)   # same scan, same host: no second challenge
        return first + second

    obs = lb.run(handler, work)
    posts = [r for r in lb.requests if r.startswith(b"POST ")]
    assert len(posts) == 1 and posts[0].startswith(b"POST /RPC2_Login HTTP/1.1")
    assert b'"password":""' in posts[0]
    rpc2 = [o for o in obs if o.data.get("path") == RPC2_PATH]
    assert len(rpc2) == 1 and rpc2[0].data["method"] == "POST"
    assert "Login to 4M0000" in rpc2[0].data["body"]


EVERYTHING_401 = b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm="HuaweiHomeGateway"\r\n\r\n'


@pytest.mark.parametrize("answers,default,asked", [
    ({"/": b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Digest realm="Login to ND0219"\r\n'
           b"Content-Length: 0\r\n\r\n"}, None, True),                 # Lorex: the realm alone
    ({"/cgi-bin/magicBox.cgi?action=getVendor": b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nvendor=Amcrest"},
     None, True),
    ({}, EVERYTHING_401, False),                                          # 401 on every path is not Dahua
])
def test_rpc2_only_on_dahua_signs(lb, answers, default, asked):
    probe(lb, lb.canned(answers, default=default) if default else lb.canned(answers))
    assert any(line.startswith("POST /RPC2_Login ") for line in lb.request_lines()) is asked


# A page that only talks about Dahua devices: their API paths, login call and markup, quoted.
DAHUA_ARTICLE = (
    b'<!DOCTYPE html><html><head><title>WEB SERVICE</title><link rel="stylesheet" href="/static/site.css">'
    b'<script src="/static/highlight.js"></script></head><body><article class="ui-dialog-content">'
    b'<h1>Auditing Dahua cameras</h1><p>The camera answers <code>/cgi-bin/magicBox.cgi?action=getVendor</code> '
    b'with <code>vendor=Dahua</code>; the web UI logs in with <code>POST /RPC2_Login</code>.</p>'
    b"<pre><code>curl -X POST http://192.168.1.108/RPC2_Login -d '{\"method\":\"global.login\"}'\n"
    b'&lt;input id="t_username"&gt; &lt;script src="jsBase/lib/jquery.js?version=@WebVersion@"&gt;'
    b"</code></pre><script>var docs = ['/RPC2_Login', 'magicBox.cgi', 'global.login'];</script>"
    b'<a href="/blog/jsBase-lib-notes.html">notes</a></article></body></html>')


def test_a_page_about_dahua_gets_no_login_challenge(lb, answer):
    page = answer("HTTP/1.1 200 OK", [("Content-Type", "text/html")], DAHUA_ARTICLE)
    obs = probe(lb, lb.canned({p.path: page for p in PATHS}))
    assert [line for line in lb.request_lines() if not line.startswith("GET ")] == []
    assert RPC2_PATH not in by_path(obs)


@pytest.mark.parametrize("markup", [
    b'<script type="text/javascript" src="jsBase/lib/jquery.js?version=@WebVersion@"></script>',
    b"<LINK rel=stylesheet href=/jsBase/lib/ui.css>",
    b'<div><input class="u-input" id="t_username" type="text"/></div>',
])
def test_dahua_web_ui_markup_gets_the_login_challenge(lb, answer, markup):
    page = answer("HTTP/1.1 200 OK", [("Content-Type", "text/html")], b"<html><body>" + markup + b"</body></html>")
    probe(lb, lb.canned({"/": page}))
    assert [line for line in lb.request_lines() if line.startswith("POST ")] == [f"POST {RPC2_PATH} HTTP/1.1"]


def test_same_host_redirect_followed_other_host_not_and_loops_bounded(lb, answer):
    answers = {
        "/": answer("HTTP/1.1 302 Found", [("Location", "/index.asp")]),
        "/index.asp": answer("HTTP/1.1 302 Found", [("Location", "http://198.51.100.7/evil")]),
        "/doc/page/login.asp": answer("HTTP/1.1 302 Found", [("Location", "/loop1")]),
        "/loop1": answer("HTTP/1.1 302 Found", [("Location", "/loop2")]),
        "/loop2": answer("HTTP/1.1 302 Found", [("Location", "/loop1")]),
    }
    obs = probe(lb, lb.canned(answers))
    targets = [line.split()[1] for line in lb.request_lines()]
    assert "/index.asp" in targets and "/evil" not in targets
    assert targets.count("/loop1") == 1 and targets.count("/loop2") == 1
    assert by_path(obs)["/"].data["headers"]["Location"] == "/index.asp"


@pytest.mark.parametrize("location", ["/caf\u00e9 x", "http://127.0.0.1:99999/x", "/a b", "index.asp",
                                      "//198.51.100.7/x", "https://127.0.0.1/"])
def test_hostile_or_foreign_locations_are_not_followed(lb, answer, location):
    obs = probe(lb, lb.canned({"/": answer("HTTP/1.1 302 Found", [("Location", location)])}))
    assert by_path(obs)["/"].status is ProbeStatus.OK
    assert {line.split()[1] for line in lb.request_lines()} <= TABLE


def test_closed_port_is_refused_and_nothing_more_is_tried(lb):
    async def work(_port):
        return await HttpProbe().probe(lb.host(), lb.closed_port(), lb.ctx())
    obs = lb.run(lb.canned({}), work)
    assert len(obs) == 1 and obs[0].status is ProbeStatus.REFUSED and obs[0].data == {"path": "/"}
    assert "refused" in obs[0].error


def test_accept_and_silence_costs_one_budget(lb):
    async def silent(reader, writer):
        await asyncio.sleep(30)
    obs = probe(lb, silent, read_timeout=0.3)
    assert len(obs) == 1 and obs[0].status is ProbeStatus.TIMEOUT


def test_drip_is_cut_at_the_whole_answer_deadline_keeping_headers(lb):
    async def drip(reader, writer):
        await lb.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nServer: Drip\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(1000):
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.05)
    obs = probe(lb, drip, read_timeout=0.4)
    assert len(obs) == 1   # a device that stalls mid-answer gets no further requests
    assert obs[0].status is ProbeStatus.TIMEOUT and obs[0].data["headers"]["Server"] == "Drip"


def test_endless_headers_are_too_large(lb):
    async def endless(reader, writer):
        await lb.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        try:
            for _ in range(10_000):
                writer.write(b"X-Junk: " + b"a" * 100 + b"\r\n")
                await writer.drain()
        except ConnectionError:
            pass
    obs = probe(lb, endless, max_header_bytes=4096)
    assert len(obs) == 1   # headers that never end: no second request
    assert obs[0].status is ProbeStatus.TOO_LARGE and obs[0].data["status"] == 200


def test_oversized_body_is_truncated_and_marked(lb, answer):
    big = b"<title>big</title>" + b"A" * 200_000
    obs = probe(lb, lb.canned({"/": answer("HTTP/1.1 200 OK", [], big, length=False)}), max_bytes=8192)
    root = by_path(obs)["/"]
    assert root.status is ProbeStatus.TOO_LARGE
    assert root.data["title"] == "big" and len(root.data["body"]) == 8192


def test_chunked_body_and_invalid_utf8(lb):
    raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"7\r\n<title>\r\n6\r\nCam\xff\xfe!\r\n8\r\n</title>\r\n0\r\n\r\n")
    root = by_path(probe(lb, lb.canned({"/": raw})))["/"]
    assert root.status is ProbeStatus.OK
    assert root.data["title"] == "Cam\ufffd\ufffd!"


def test_garbage_is_a_protocol_error(lb):
    garbage = bytes(range(256)) * 4
    obs = probe(lb, lb.canned({}, default=garbage))
    assert len(obs) == 1 and obs[0].status is ProbeStatus.PROTOCOL_ERROR


def test_immediate_reset(lb):
    async def rst(reader, writer):
        lb.reset(writer)
    obs = probe(lb, rst)
    assert len(obs) == 1 and obs[0].status in (ProbeStatus.RESET, ProbeStatus.PROTOCOL_ERROR)


def test_excluded_target_gets_no_connection(lb):
    async def work(port):
        return await HttpProbe().probe(type(lb.host())("127.0.0.2"), port, lb.ctx())
    obs = lb.run(lb.canned({}), work)
    assert obs[0].status is ProbeStatus.ERROR and "not among the scan's targets" in obs[0].error
    assert lb.requests == []


@pytest.mark.parametrize("body,title", [
    (b"<title>a</title>", "a"),
    (b"<TITLE lang='en'>\n  x\ty </TITLE>", "x y"),
    (b"<title>" + b"a" * 5000 + b"</title>", ""),   # longer than the bounded regex: no title
    (b"no title here", ""),
])
def test_title_regex(body, title):
    assert title_of(body) == title
