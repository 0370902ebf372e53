"""A web page that only talks about a flagged vendor (its paths, APIs, model numbers) is not
that vendor's device: body and title signals must come from the device's own markup."""

from __future__ import annotations

import pytest

from camaudit.fingerprints.matcher import FingerprintSet
from camaudit.identify import identify
from camaudit.observation import Observation
from camaudit.policy import load_policies

ARTICLE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<title>Auditing Hikvision and Dahua cameras</title><link rel="stylesheet" href="/static/site.css"></head>
<body><article><h1>Auditing Hikvision and Dahua cameras</h1>
<p>A Hikvision camera redirects <code>/</code> to <code>/doc/page/login.asp</code>, loads
<code>/doc/script/inc.js</code> and <code>/doc/ui/</code>, and answers <code>/ISAPI/Security/userCheck</code>
with <code>&lt;userCheck&gt;&lt;statusValue&gt;401&lt;/statusValue&gt;&lt;/userCheck&gt;</code> in the
<code>xmlns="http://www.hikvision.com/ver20/XMLSchema"</code> namespace. Open
<a href="http://192.168.1.64/doc/page/login.asp">http://192.168.1.64/doc/page/login.asp</a>.</p>
<pre><code>window.location.href = "/doc/page/login.asp";
curl -X POST http://192.168.1.108/RPC2_Login -d '{"method":"global.login","params":{"userName":"admin"}}'
&lt;input id="t_username"&gt; &lt;script src="jsBase/lib/jquery.js?version=@WebVersion@"&gt;&lt;/script&gt;</code></pre>
<p>Dahua IPC-HFW2431S-S-S2, NVR4108HS-4KS2 and DH-XVR5108HS answer
<code>/cgi-bin/magicBox.cgi?action=getVendor</code> with <code>vendor=Dahua</code> and the realm
<code>Login to 4F0123456789ABC</code>; <span class="ui-dialog-content">WEB SERVICE</span> is their title.
Huawei Technologies Co., Ltd. ships <code>/resource/common/util.js</code> on EchoLife HG8245H; ZTE ZXHN
F670L and ZXV10 W300 gateways, Hikvision DS-2CD2043G2-I and DS-7608NI-K2 are covered next.</p>
<script src="/static/highlight.js"></script></article></body></html>"""

PATHS = ["/", "/doc/page/login.asp", "/ISAPI/Security/userCheck", "/cgi-bin/magicBox.cgi?action=getVendor"]


@pytest.mark.parametrize("server", ["nginx/1.24.0", "Apache/2.4.57 (Debian)"])
def test_a_page_discussing_vendor_paths_stays_unflagged(fset: FingerprintSet, server: str) -> None:
    observations = [Observation.from_dict({
        "v": 1, "ip": "198.18.7.7", "mac": None, "source": "http", "port": 80, "status": "ok",
        "data": {"path": path, "status": 200, "headers": {"Server": server, "Content-Type": "text/html"},
                 "title": "Auditing Hikvision and Dahua cameras", "body": ARTICLE}}) for path in PATHS]
    observations.append(Observation.from_dict({
        "v": 1, "ip": "198.18.7.7", "mac": None, "source": "http", "port": 80, "status": "ok",
        "data": {"path": "/RPC2_Login", "method": "POST", "status": 404, "headers": {"Server": server},
                 "body": '{"error":"not found","path":"/RPC2_Login"}'}}))
    (ident,) = identify(observations, fset, load_policies())
    assert ident.vendor is None and not ident.flagged, ident.evidence
    assert not [e for e in ident.evidence if e["vendor"]], ident.evidence


def test_the_same_markers_in_the_device_s_own_markup_still_identify(fset: FingerprintSet) -> None:
    """The anchoring keeps real login pages: a <script> redirect and a tag loading /doc files."""
    page = ('<html><head><script type="text/javascript" src="/doc/script/inc.js"></script><script>\n'
            'window.location.href = "/doc/page/login.asp?_" + (new Date()).getTime();\n</script></head></html>')
    (ident,) = identify([Observation.from_dict({
        "v": 1, "ip": "198.18.7.8", "mac": None, "source": "http", "port": 80, "status": "ok",
        "data": {"path": "/", "status": 200, "headers": {}, "body": page}})], fset, load_policies())
    assert ident.vendor == "Hikvision" and ident.flagged
