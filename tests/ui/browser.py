#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""
The browser test of sealine-ui: headless Chromium driven by Selenium
(Debian's chromium, chromium-driver, python3-selenium), against a
sealined on the host test bed that test-ui.sh started.

    browser.py URL DIR SHOTS

URL is what sealine-ui printed (with the access token); DIR the test
bed (ctl.sock, in/, up/, files); SHOTS where the screenshots go. Prints
"ok: ..." / "FAIL: ..." per check and ends with "N passed, N failed".
Every wait is bounded by a count of polls, never judged by the time it
took.
"""
import http.client
import json
import os
import re
import subprocess
import sys
import time
import traceback
import urllib.parse

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

URL, DIR, SHOTS = sys.argv[1:4]
BASE = URL.split("/login")[0]
HOST = urllib.parse.urlsplit(BASE).netloc
PEER = "210987654321"
SEALCTL = os.environ["SEALCTL"]
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok: " + name)
    else:
        failed += 1
        print("FAIL: " + name + (": " + str(detail)[:600] if detail else ""))


def req(method, path, body=None, headers=None, cookie=None, host=None):
    """One request without the browser: (status, headers, body bytes)."""
    h = dict(headers or {})
    if cookie:
        h["Cookie"] = "sealine_ui=" + cookie
    c = http.client.HTTPConnection(host or HOST, timeout=60)
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, dict(r.getheaders()), data


def req_refused_early(path, body, headers, cookie):
    """A request the server may answer and close before it has read the
    body (413): send what it takes, then read its answer. http.client
    raises when the server closes mid-body, and whether that happens
    depends on the machine's load. (status, body bytes)."""
    import socket
    h = dict(headers)
    h["Cookie"] = "sealine_ui=" + cookie
    h["Content-Length"] = str(len(body))
    h["Host"] = HOST
    head = "POST %s HTTP/1.1\r\n%s\r\n" % (
        path, "".join("%s: %s\r\n" % kv for kv in h.items()))
    host, port = HOST.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=60)
    try:
        s.sendall(head.encode() + body)
    except (BrokenPipeError, ConnectionResetError):
        pass
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return (int(m.group(1)) if m else None), data


def multipart(fields, files):
    """fields: [(name, value)], files: [(name, filename, bytes)]."""
    b = "----sealineuitest7MA4YWxkTrZu0gW"
    out = b""
    for k, v in fields:
        out += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                % (b, k, v)).encode()
    for k, fn, data in files:
        out += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n" % (b, k, fn)).encode()
        out += data + b"\r\n"
    out += ("--%s--\r\n" % b).encode()
    return out, {"Content-Type": "multipart/form-data; boundary=" + b}


def sealctl(*args):
    r = subprocess.run([SEALCTL, *args, "--socket", DIR + "/ctl.sock"],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def outbox():
    rc, out, err = sealctl("outbox", "--json")
    return json.loads(out) if rc == 0 else None


def shot(driver, name):
    os.makedirs(SHOTS, exist_ok=True)
    WebDriverWait(driver, 60, ignored_exceptions=[WebDriverException]).until(
        lambda d: d.save_screenshot(os.path.join(SHOTS, name + ".png")))


def click_and_wait(driver, el):
    """Click what loads another page, and wait until the old one is gone
    (reading the next page's elements before that reads the old ones)."""
    old = driver.find_element(By.TAG_NAME, "html")
    el.click()
    WebDriverWait(driver, 60, ignored_exceptions=[WebDriverException]).until(
        EC.staleness_of(old))


def go(url):
    """driver.get, again if the page being left reloaded itself (the
    progress page's meta refresh) in the middle of it."""
    WebDriverWait(driver, 60, ignored_exceptions=[WebDriverException]).until(
        lambda d: d.get(url) or True)


def main_text(driver):
    return driver.find_element(By.TAG_NAME, "main").text


opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
          "--disable-dev-shm-usage", "--window-size=1200,900",
          "--no-first-run", "--disable-extensions",
          "--disable-background-networking", "--disable-sync",
          "--lang=en-US"):
    opts.add_argument(a)
downloads = os.path.join(DIR, "downloads")
os.makedirs(downloads, exist_ok=True)
opts.add_experimental_option("prefs", {
    "download.default_directory": downloads,
    "download.prompt_for_download": False,
})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
driver.set_page_load_timeout(60)
# a page that reloads itself (the progress page) may swap an element
# between finding and reading it: look again
wait = WebDriverWait(driver, 60, ignored_exceptions=[WebDriverException])

try:
    # ---- Access -----------------------------------------------------------
    go(BASE + "/")
    check("without the token: no access, no envelope",
          "No access" in main_text(driver) and not driver.find_elements(By.ID, "to"),
          main_text(driver))
    st, _, _ = req("GET", "/")
    check("without the cookie GET / is 403", st == 403, st)
    st, _, _ = req("GET", "/login?token=" + "0" * 64)
    check("a wrong access token is 403", st == 403, st)

    go(URL)
    check("the token's URL leads to the envelope, token gone from the address",
          driver.current_url.rstrip("/") == BASE and driver.find_elements(By.ID, "to"),
          driver.current_url)
    ck = driver.get_cookie("sealine_ui")
    check("session cookie is HttpOnly and SameSite=Strict",
          ck and ck.get("httpOnly") and ck.get("sameSite") == "Strict", ck)
    cookie = ck["value"] if ck else ""
    st, hdr, _ = req("GET", "/", headers={"Host": "rebound.example:%s" % HOST.split(":")[1]},
                      cookie=cookie)
    check("a Host header naming another server is refused (421)", st == 421, st)
    check("Content-Security-Policy forbids everything foreign",
          "default-src 'none'" in hdr.get("Content-Security-Policy", ""), hdr)
    page = driver.page_source
    check("no external script, font or style",
          not re.search(r"(src|href)=\"(https?:)?//", page) and "<script" not in page)

    # ---- The envelope: address it, attach, send ------------------------------
    frm = driver.find_element(By.ID, "from-account").text
    check("From shows this installation's account", frm == "123456789012", frm)
    sel = Select(driver.find_element(By.ID, "to"))
    opts_text = [o.text for o in sel.options]
    check("To lists the address book with name, company and status",
          any(PEER in t and "Müller GmbH, Müller Werke AG" in t and "paired, authorised" in t
              for t in opts_text)
          and any("revoked" in t for t in opts_text), opts_text)
    book = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#peers tbody tr")]
    check("the address book shows each peer's company",
          any(PEER in r and "Müller Werke AG" in r for r in book), book)
    revoked = [o for o in sel.options if "revoked" in o.text]
    check("a revoked peer cannot be chosen",
          revoked and not revoked[0].is_enabled(), opts_text)
    sel.select_by_value(PEER)
    files = [os.path.join(DIR, "files", n) for n in ("Bericht März.txt", "random.bin")]
    driver.find_element(By.ID, "files").send_keys("\n".join(files))
    shot(driver, "envelope")
    before = outbox()
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    wait.until(lambda d: re.search(r"/outbox/[0-9a-f]{32}$", d.current_url))
    env_id = driver.current_url.rsplit("/", 1)[1]
    state = wait.until(lambda d: d.find_element(By.ID, "state").text)
    check("Send queues the envelope and shows its progress page",
          state == "queued" and driver.find_elements(By.ID, "progress"), state)
    shot(driver, "progress")
    ob = outbox()
    mine = [e for e in ob or [] if e["id"] == env_id]
    size = sum(os.path.getsize(f) for f in files)
    check("sealctl outbox has it: to the peer, 2 files, every byte",
          len(mine) == 1 and mine[0]["to"] == PEER and mine[0]["files"] == 2
          and mine[0]["content_bytes"] == size and len(ob) == len(before) + 1, mine)
    check("the upload directory is empty once sent",
          os.listdir(os.path.join(DIR, "up")) == [], os.listdir(os.path.join(DIR, "up")))

    # ---- Files picked from a local folder (--folder DIR/pick) ----------------
    pick_dir = os.path.realpath(os.path.join(DIR, "pick"))
    go(BASE + "/?to=" + PEER)
    driver.find_element(By.LINK_TEXT, pick_dir).click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "picker-entries"))
    entries = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#picker-entries tbody tr")]
    check("the picker lists the folder: files with sizes, directories",
          any("Lieferschein.txt" in e and "18 bytes" in e for e in entries)
          and any(e.startswith("sub/") for e in entries), entries)
    check("browsing keeps the chosen recipient",
          Select(driver.find_element(By.ID, "to")).first_selected_option.get_attribute("value") == PEER)
    driver.find_element(By.LINK_TEXT, "outside").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "picker"))
    check("a link that leads out of the folder is not shown",
          "leads out of its folder" in driver.find_element(By.ID, "picker").text
          and not driver.find_elements(By.CSS_SELECTOR, "#picker-entries"),
          driver.find_element(By.ID, "picker").text[:300])
    go(BASE + "/?folder=0&path=sub&to=" + PEER)
    entries = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#picker-entries tbody tr")]
    crumbs = driver.find_element(By.CSS_SELECTOR, "#picker .crumbs").text
    check("a directory opens with the way back",
          any("deep.bin" in e for e in entries) and crumbs.startswith(pick_dir + " / sub"),
          (entries, crumbs))
    driver.find_element(By.LINK_TEXT, pick_dir).click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "picker-entries"))
    before = outbox()
    for v in ("0/Lieferschein.txt", "0/sub"):
        driver.find_element(By.CSS_SELECTOR, "input[name=pick][value='%s']" % v).click()
    shot(driver, "envelope-folder")
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form button[type=submit]"))
    wait.until(lambda d: re.search(r"/outbox/[0-9a-f]{32}$", d.current_url))
    pick_id = driver.current_url.rsplit("/", 1)[1]
    mine = [e for e in outbox() if e["id"] == pick_id]
    # entries: the file, the directory and the file in it
    check("ticked files and a directory are sent without an upload: every byte",
          len(mine) == 1 and mine[0]["to"] == PEER and mine[0]["files"] == 3
          and mine[0]["content_bytes"] == 18 + 5000 and len(outbox()) == len(before) + 1, mine)
    go(BASE + "/")
    csrf = driver.find_element(By.NAME, "csrf").get_attribute("value")
    n_before = len(outbox())
    for pick, why in (("0/../state/identity", "in it"),
                      ("0/outside/identity", "leads out of its folder"),
                      ("0/sub/../../state", "in it"),
                      ("7/x", "no folder 7"), ("0/", "a folder itself"),
                      ("/etc/passwd", "is not a folder"),
                      ("0/no-such-file", "No such file")):
        body, h = multipart([("csrf", csrf), ("to", PEER), ("pick", pick)], [])
        st, _, data = req("POST", "/send", body, h, cookie)
        check("the pick %s is refused (%s), nothing queued" % (pick, why),
              st == 400 and why.encode() in data and len(outbox()) == n_before,
              (st, data[-400:]))
    body, h = multipart([("csrf", csrf), ("to", PEER), ("pick", "0/random.bin")],
                        [("files", "random.bin", b"upload")])
    st, _, data = req("POST", "/send", body, h, cookie)
    check("a pick named as an upload is refused, nothing queued or stored",
          st == 400 and b"Two files named" in data and len(outbox()) == n_before
          and os.listdir(os.path.join(DIR, "up")) == [], (st, data[-300:]))
    st, _, data = req("GET", "/?folder=0&path=..%2F..", None, None, cookie)
    check("the envelope page refuses to browse above a folder",
          st == 400 and b"Cannot show that folder" in data, st)

    go(BASE + "/outbox")
    rows = driver.find_elements(By.CSS_SELECTOR, "#outbox tbody tr")
    check("the outbox lists it as queued",
          any(env_id[:8] in r.text and "queued" in r.text and "Müller GmbH" in r.text
              for r in rows), [r.text for r in rows])
    shot(driver, "outbox")

    # ---- Inbox: list, open, download byte-exact ------------------------------
    in_id = open(os.path.join(DIR, "inbox-id")).read().strip()
    go(BASE + "/inbox")
    rows = driver.find_elements(By.CSS_SELECTOR, "#inbox tbody tr")
    check("the inbox lists the envelope with its sender and file count",
          any(in_id[:8] in r.text and PEER in r.text and "Müller GmbH" in r.text
              and " 3 " in " " + r.text + " " for r in rows), [r.text for r in rows])
    # The route, as sealctl inbox's VIA column: a direct line, or held and
    # delivered by the TSP; each row's own cell, under the "Via" heading.
    tsp_in_id = open(os.path.join(DIR, "inbox-tsp-id")).read().strip()
    heads = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "#inbox thead th")]
    via = {}
    for r in rows:
        cells = [td.text for td in r.find_elements(By.TAG_NAME, "td")]
        if "Via" in heads and len(cells) == len(heads):
            via[cells[0]] = cells[heads.index("Via")]
    rc, out, _ = sealctl("inbox", "--json")
    listed = json.loads(out) if rc == 0 else []
    check("the inbox shows each envelope's route: line, or TSP (as sealctl inbox's via)",
          via.get(in_id[:8]) == "line" and via.get(tsp_in_id[:8]) == "TSP" and
          {e["id"]: e["via"] for e in listed} == {in_id: "line", tsp_in_id: "tsp"},
          (heads, via, listed))
    shot(driver, "inbox")
    click_and_wait(driver, driver.find_element(By.LINK_TEXT, in_id[:8]))
    names = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#files tbody a")]
    check("an envelope's page lists its files (in a directory too)",
          sorted(names) == sorted(["Bericht März.txt", "data.bin", "docs/nested.txt"]), names)
    shot(driver, "inbox-envelope")
    driver.execute_cdp_cmd("Page.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": downloads})
    for name, local in (("data.bin", "data.bin"), ("docs/nested.txt", "nested.txt"),
                        ("Bericht März.txt", "Bericht März.txt")):
        driver.find_element(By.LINK_TEXT, name).click()
        target = os.path.join(downloads, local)
        for _ in range(600):
            if os.path.exists(target) and not any(f.endswith(".crdownload")
                                                  for f in os.listdir(downloads)):
                break
            time.sleep(0.1)
        want = open(os.path.join(DIR, "in", in_id, name), "rb").read()
        got = open(target, "rb").read() if os.path.exists(target) else None
        check("download of %s is byte-exact" % name, got == want,
              "%s of %d bytes" % (None if got is None else len(got), len(want)))

    # ---- Negative: CSRF, limits, traversal -----------------------------------
    csrf = driver.find_element(By.NAME, "csrf").get_attribute("value") \
        if driver.find_elements(By.NAME, "csrf") else None
    go(BASE + "/")
    csrf = driver.find_element(By.NAME, "csrf").get_attribute("value")
    n_before = len(outbox())
    body, h = multipart([("csrf", "f" * 64), ("to", PEER)],
                        [("files", "x.txt", b"hello")])
    st, _, data = req("POST", "/send", body, h, cookie)
    check("a wrong CSRF token is refused (403), nothing queued or stored",
          st == 403 and b"CSRF" in data and len(outbox()) == n_before
          and os.listdir(os.path.join(DIR, "up")) == [], (st, data[-300:]))
    body, h = multipart([("to", PEER)], [("files", "x.txt", b"hello")])
    st, _, _ = req("POST", "/send", body, h, cookie)
    check("a form without the CSRF token is refused (403)",
          st == 403 and len(outbox()) == n_before, st)
    st, _, _ = req("POST", "/send", body, h)
    check("a form without the session cookie is refused (403)", st == 403, st)
    st, _, _ = req("POST", "/outbox/%s/cancel" % env_id, "csrf=" + "0" * 64,
                    {"Content-Type": "application/x-www-form-urlencoded"}, cookie)
    check("cancel with a wrong CSRF token is refused", st == 403
          and [e for e in outbox() if e["id"] == env_id][0]["state"] == "queued", st)
    st, _, _ = req("POST", "/outbox/%s/cancel" % env_id, "csrf=" + csrf,
                    {"Content-Type": "application/x-www-form-urlencoded",
                     "Origin": "http://evil.example"}, cookie)
    check("a form from another origin is refused", st == 403, st)

    for evil in ("../../escape.txt", "../escape.txt", "..", "/tmp/escape.txt"):
        body, h = multipart([("csrf", csrf), ("to", PEER)],
                            [("files", evil, b"escaped")])
        st, _, data = req("POST", "/send", body, h, cookie)
        found = subprocess.run(["find", "/tmp", DIR, "-name", "escape.txt"],
                               capture_output=True, text=True).stdout
        check("upload named %r refused with a message, nothing written" % evil,
              st == 400 and b"was refused" in data and not found
              and os.listdir(os.path.join(DIR, "up")) == []
              and len(outbox()) == n_before, (st, found, data[-300:]))
    st, _, data = req("GET", "/inbox/%s/file?name=%s" % (
        in_id, urllib.parse.quote("../../state/identity")), cookie=cookie)
    check("a download naming ../ outside the envelope is refused",
          st == 404 and b"private" not in data, st)
    st, _, data = req("GET", "/inbox/%s/file?name=%s" % (
        in_id, urllib.parse.quote("link-out")), cookie=cookie)
    check("a symbolic link in the inbox is not followed", st == 404, st)

    limit = int(os.environ["UI_MAX_UPLOAD"])
    big = os.path.join(DIR, "files", "over-the-limit.bin")
    with open(big, "wb") as f:
        f.write(os.urandom(limit + 1))
    sel = Select(driver.find_element(By.ID, "to"))
    sel.select_by_value(PEER)
    driver.find_element(By.ID, "files").send_keys(big)
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "p.error"))
    msg = driver.find_element(By.CSS_SELECTOR, "p.error").text
    check("a file over the limit is refused with a message in the page",
          "over the upload limit" in msg and len(outbox()) == n_before
          and os.listdir(os.path.join(DIR, "up")) == [], msg)
    shot(driver, "over-limit")
    body, h = multipart([("csrf", csrf), ("to", PEER)],
                        [("files", "huge.bin", b"\0" * (limit * 3))])
    st, data = req_refused_early("/send", body, h, cookie)
    check("an upload announced over the limit is refused before it is read (413)",
          st == 413 and b"upload limit" in data, st)
    body, h = multipart([("csrf", csrf), ("to", "12345")], [("files", "a.txt", b"a")])
    st, _, data = req("POST", "/send", body, h, cookie)
    check("a recipient that is not an account is refused with a message",
          st == 400 and b"12 digits" in data, st)

    # ---- Cancel from the page, then the send log ------------------------------
    go(BASE + "/outbox/" + env_id)
    click_and_wait(driver, driver.find_element(By.ID, "cancel"))
    wait.until(lambda d: d.find_element(By.ID, "state").text == "cancelled")
    check("Cancel withdraws the envelope",
          [e for e in outbox() if e["id"] == env_id][0]["state"] == "cancelled")
    go(BASE + "/log/sent")
    rows = driver.find_elements(By.CSS_SELECTOR, "#log tbody tr")
    check("the send log shows it cancelled, with the peer's name",
          any(env_id in r.text and "cancelled" in r.text and "Müller GmbH" in r.text
              for r in rows), [r.text for r in rows])
    shot(driver, "send-log")
    driver.find_element(By.ID, "account").send_keys("999999999999")
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form.filter button"))
    rows = driver.find_elements(By.CSS_SELECTOR, "#log tbody tr")
    check("filtering by another account leaves no record",
          len(rows) == 1 and "No records" in rows[0].text, [r.text for r in rows])
    go(BASE + "/log/sent?account=12x")
    check("a bad account in the filter is refused with a message",
          "12 digits" in main_text(driver))
    go(BASE + "/log/sent?from=2026-02-30")
    check("an impossible date is refused with a message",
          "YYYY-MM-DD" in main_text(driver))
    st, hdr, data = req("GET", "/log/sent.csv?account=" + PEER, cookie=cookie)
    lines = data.decode().splitlines()
    check("CSV export of the send log",
          st == 200 and hdr.get("Content-Type", "").startswith("text/csv")
          and lines[0].startswith("time,envelope,to,name,outcome")
          and any(env_id in l and "cancelled" in l and "Müller GmbH" in l for l in lines),
          (st, lines[:3]))
    go(BASE + "/log/received")
    check("the receive log page opens", "Receive log" in driver.title)
    go(BASE + "/lines")
    rows = driver.find_elements(By.CSS_SELECTOR, "#lines tbody tr")
    check("the lines page shows the configured line",
          any("ttyNOSUCH8" in r.text and PEER in r.text for r in rows),
          [r.text for r in rows])
    shot(driver, "lines")

    # ---- Keyboard and a narrow window ------------------------------------------
    go(BASE + "/")
    seen = []
    for _ in range(30):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        el = driver.switch_to.active_element
        seen.append(el.get_attribute("id") or el.tag_name + ":" + (el.text or ""))
    check("Tab reaches the menu, the recipient, the files and Send",
          "to" in seen and "files" in seen and "button:Send" in seen
          and "a:Outbox" in seen, seen)
    driver.set_window_size(360, 800)
    for path, name in (("/", "narrow-envelope"), ("/inbox", None), ("/log/sent", None),
                       ("/outbox", None)):
        go(BASE + path)
        wide = driver.execute_script(
            "return document.documentElement.scrollWidth > window.innerWidth + 1")
        check("at 360 pixels wide %s needs no sideways scrolling" % path, not wide)
        if name:
            shot(driver, name)
    # ---- Progress to the receipt, a failure and Retry (the stand-in) -----------
    driver.set_window_size(1200, 900)
    fake = os.environ["UI_FAKE_URL"]
    fbase = fake.split("/login")[0]
    go(fake)
    go(fbase + "/outbox/" + "5" * 32)
    seen = []
    def snapshot(d):
        el = d.find_element(By.ID, "state")
        return (el, el.text, int(d.find_element(By.ID, "progress").get_attribute("value")),
                main_text(d))

    for _ in range(20):
        state_el, st, val, text = wait.until(snapshot)
        seen.append((st, val, text))
        if st == "delivered":
            break
        if st == "sending" and "/s," in seen[-1][2]:
            shot(driver, "progress-sending")
        WebDriverWait(driver, 30).until(EC.staleness_of(state_el))  # its reload
    states = [x[0] for x in seen]
    values = [x[1] for x in seen]
    check("the progress page follows the envelope to delivered by itself",
          states[0] == "queued" and "sending" in states and states[-1] == "delivered",
          states)
    check("the progress bar only grows, and ends full",
          values == sorted(values) and values[-1] == int(
              driver.find_element(By.ID, "progress").get_attribute("max")), values)
    check("while sending it shows the rate and the time left",
          any(st == "sending" and re.search(r"/s, \d+:\d\d left", t) for st, _, t in seen),
          [t.splitlines()[2:4] for _, _, t in seen])
    check("once delivered it shows the signed receipt and stops reloading",
          "sealine-receipt 1" in driver.find_element(By.ID, "receipt").text
          and not driver.find_elements(By.CSS_SELECTOR, "meta[http-equiv=refresh]"))
    shot(driver, "receipt")
    go(fbase + "/outbox/" + "f" * 32)
    alert = driver.find_element(By.CSS_SELECTOR, "p.error").text
    check("a failed envelope says why", "Not delivered" in alert and "no answer" in alert,
          alert)
    shot(driver, "failed")
    click_and_wait(driver, driver.find_element(By.ID, "retry"))
    wait.until(lambda d: d.find_element(By.ID, "state").text == "queued")
    log = open(os.environ["FAKE_LOG"]).read().splitlines()
    check("Retry asks sealined to try again and the page shows it queued",
          "outbox-retry " + "f" * 32 in log, log[-5:])
    # ---- Pairing from the browser (the stand-in's conversation) ---------------
    def pair_start(line):
        go(fbase + "/pair")
        Select(driver.find_element(By.ID, "pair-line")).select_by_value(line)
        click_and_wait(driver, driver.find_element(By.ID, "pair-start"))

    def pair_wait(el_id):
        return wait.until(lambda d: d.find_element(By.ID, el_id).text)

    pair_start("modem0")
    code = pair_wait("sas-code")
    check("pairing on the reading side shows the code and the peer",
          code == "K7Q2M" and driver.find_element(By.ID, "pair-peer").text == "210987654321",
          main_text(driver))
    shot(driver, "pair-code")
    click_and_wait(driver, driver.find_element(By.ID, "confirm-yes"))
    result = pair_wait("pair-result")
    log = open(os.environ["FAKE_LOG"]).read().splitlines()
    check("'the codes match' confirms, and the page says paired",
          "confirm yes" in log and "Paired with 210987654321" in result, (result, log[-4:]))
    pair_start("modem1")
    wait.until(lambda d: d.find_elements(By.ID, "sas"))
    driver.find_element(By.ID, "sas").send_keys("AAAAA")
    click_and_wait(driver, driver.find_element(By.ID, "sas-send"))
    wait.until(lambda d: d.find_elements(By.ID, "sas")
               and "not the code" in main_text(d) and "2 tries left" in main_text(d))
    check("a wrong code is sent, and the page asks again with one try less",
          "sas AAAAA" in open(os.environ["FAKE_LOG"]).read().splitlines())
    shot(driver, "pair-type")

    def type_code(d):  # again if a page load got in between
        el = d.find_element(By.ID, "sas")
        el.clear()
        el.send_keys("K7Q2M")
        return el.get_attribute("value") == "K7Q2M"

    wait.until(type_code)
    click_and_wait(driver, driver.find_element(By.ID, "sas-send"))
    result = pair_wait("pair-result")
    check("the right code pairs", "Paired with 333333333333" in result, result)
    csrf2 = None
    go(fbase + "/pair")
    csrf2 = driver.find_element(By.NAME, "csrf").get_attribute("value")
    fcookie = driver.get_cookie("sealine_ui")["value"]
    fhost = urllib.parse.urlsplit(fbase).netloc
    st, _, _ = req("POST", "/pair/start", "line=modem0&csrf=" + "0" * 64,
                   {"Content-Type": "application/x-www-form-urlencoded"}, fcookie, fhost)
    check("a pairing without the right CSRF token is not started", st == 403, st)
    st, _, data = req("POST", "/pair/start", "line=..%2Fx&csrf=" + csrf2,
                      {"Content-Type": "application/x-www-form-urlencoded"}, fcookie, fhost)
    check("a line name that is not a tty's is refused", st == 400, st)
    st, _, _ = req("POST", "/pair/" + "0" * 32 + "/confirm", "answer=yes&csrf=" + csrf2,
                   {"Content-Type": "application/x-www-form-urlencoded"}, fcookie, fhost)
    check("an answer to no pairing is refused", st == 409, st)

    # ---- The TSP's pages (the second sealine-ui: --tsp-store, --tsp-socket) ----
    def tsp_accounts():
        r = subprocess.run([SEALCTL, "tsp", "--db", os.environ["TSP_DB"], "accounts",
                            "list", "--json"], capture_output=True, text=True, timeout=60)
        return {a["number"]: a for a in json.loads(r.stdout)}

    def tsp_form(form_id, **fields):
        go(fbase + "/tsp/accounts")
        for k, v in fields.items():
            el = driver.find_element(By.ID, k)
            if el.tag_name == "select":
                Select(el).select_by_value(v)
            else:
                el.send_keys(v)
        click_and_wait(driver, driver.find_element(By.ID, form_id))
        errs = driver.find_elements(By.CSS_SELECTOR, "p.error")
        return errs[0].text if errs else ""

    go(fbase + "/tsp/accounts")
    links = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "nav a")]
    check("with --tsp-store and --tsp-socket the menu has the TSP's pages",
          {"TSP accounts", "TSP calls", "Call records"} <= set(links), links)
    rows = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#accounts tbody tr")]
    check("TSP accounts lists both with bindings and status",
          any("111111111111" in r and "Alpha AG" in r and "caller ID 5551" in r
              and "enabled" in r for r in rows)
          and any("222222222222" in r and "none: cannot call" in r for r in rows), rows)
    key = "ab" * 32
    msg = tsp_form("add", **{"add-number": "333333333333", "add-name": "Gamma Ltd",
                             "add-phone": "555-3", "add-key": key})
    check("an account with a bad phone number is refused with a message, not added",
          "is not 1 to 32 digits" in msg and "333333333333" not in tsp_accounts(), msg)
    msg = tsp_form("add", **{"add-number": "3333", "add-name": "Gamma Ltd",
                             "add-phone": "5553", "add-key": key})
    check("an account number that is not 12 digits is refused", "12 digits" in msg, msg)
    msg = tsp_form("add", **{"add-number": "333333333333", "add-name": "Gamma Ltd",
                             "add-phone": "5553", "add-key": "xyz"})
    check("a key that is not 64 hex digits is refused", "64 hex digits" in msg, msg)
    msg = tsp_form("add", **{"add-number": "333333333333", "add-name": "Gamma Ltd",
                             "add-phone": "5553", "add-key": key})
    acc = tsp_accounts()
    check("a valid account is added (sealctl tsp sees it)",
          not msg and acc.get("333333333333", {}).get("name") == "Gamma Ltd"
          and acc["333333333333"]["public_key"] == key, (msg, acc.get("333333333333")))
    msg = tsp_form("add", **{"add-number": "333333333333", "add-name": "Gamma Ltd",
                             "add-phone": "5553", "add-key": key})
    check("adding it twice is refused with the store's reason", msg != "", msg)
    go(fbase + "/tsp/accounts")
    click_and_wait(driver, driver.find_element(By.ID, "disable-111111111111"))
    check("Disable disables the account",
          tsp_accounts()["111111111111"]["enabled"] is False
          and driver.find_elements(By.ID, "enable-111111111111"))
    msg = tsp_form("bind", **{"bind-number": "222222222222", "bind-kind": "line",
                              "bind-value": "bad line!"})
    check("a bad line name is refused with a message", "is not 1 to 63" in msg, msg)
    msg = tsp_form("bind", **{"bind-number": "222222222222", "bind-kind": "line",
                              "bind-value": "modem1"})
    check("a line is bound", not msg and tsp_accounts()["222222222222"]["lines"] == ["modem1"],
          msg)
    msg = tsp_form("authorise", **{"auth-number": "111111111111",
                                   "auth-caller": "222222222222"})
    check("a caller is authorised",
          not msg and tsp_accounts()["111111111111"]["authorised_callers"] == ["222222222222"],
          msg)
    msg = tsp_form("limit", **{"limit-number": "111111111111", "limit-calls": "3"})
    check("a call limit is set", not msg and tsp_accounts()["111111111111"]["max_calls"] == 3,
          msg)
    # The browser's own form check stops 100001 (max=100000) before it
    # is sent; the server's is checked with the page's CSRF token.
    go(fbase + "/tsp/accounts")
    csrf = driver.find_element(By.NAME, "csrf").get_attribute("value")
    st, _, body = req("POST", "/tsp/accounts/limit",
                      "number=111111111111&max_calls=100001&csrf=" + csrf,
                      {"Content-Type": "application/x-www-form-urlencoded"}, fcookie, fhost)
    check("a call limit over the most is refused with a message, the old one kept",
          st == 400 and b"is not a number of calls" in body
          and tsp_accounts()["111111111111"]["max_calls"] == 3, (st, body[-300:]))
    shot(driver, "tsp-accounts")
    msg = tsp_form("unbind", **{"bind-number": "222222222222", "bind-kind": "line",
                                "bind-value": "modem1"})
    check("Unbind removes the line", not msg and tsp_accounts()["222222222222"]["lines"] == [],
          msg)
    msg = tsp_form("unbind", **{"bind-number": "222222222222", "bind-kind": "line",
                                "bind-value": "modem1"})
    check("unbinding what is not bound says so", "not bound" in msg, msg)
    msg = tsp_form("deauthorise", **{"auth-number": "111111111111",
                                     "auth-caller": "222222222222"})
    check("Withdraw removes the authorised caller",
          not msg and tsp_accounts()["111111111111"]["authorised_callers"] == [], msg)
    msg = tsp_form("set-key", **{"key-number": "333333333333", "key-key": "g" * 64})
    check("a replacement key that is not hex is refused, the old one kept",
          "64 hex digits" in msg and tsp_accounts()["333333333333"]["public_key"] == key, msg)
    msg = tsp_form("set-key", **{"key-number": "333333333333", "key-key": "cd" * 32})
    check("an account's key is replaced",
          not msg and tsp_accounts()["333333333333"]["public_key"] == "cd" * 32, msg)
    msg = tsp_form("remove", **{"remove-number": "333333333333"})
    check("Remove without ticking the box is refused, the account kept",
          "Tick the box" in msg and "333333333333" in tsp_accounts(), msg)
    go(fbase + "/tsp/accounts")
    driver.find_element(By.ID, "remove-number").send_keys("333333333333")
    driver.find_element(By.ID, "remove-confirm").click()
    click_and_wait(driver, driver.find_element(By.ID, "remove"))
    check("Remove with the box ticked removes the account",
          not driver.find_elements(By.CSS_SELECTOR, "p.error")
          and "333333333333" not in tsp_accounts())
    st, _, _ = req("POST", "/tsp/accounts/disable", "number=222222222222&csrf=" + "0" * 64,
                   {"Content-Type": "application/x-www-form-urlencoded"}, fcookie, fhost)
    check("a TSP change without the right CSRF token is refused", st == 403
          and tsp_accounts()["222222222222"]["enabled"] is True, st)

    go(fbase + "/tsp/records?month=2026-11")
    bill = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#billing tbody tr")]
    check("billing summary of November per calling account",
          bill == ["111111111111 2 1 0:02:05 1000 2000", "222222222222 1 1 0:01:01 10 20"],
          bill)
    recs = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#records tbody tr")]
    check("November's three records, not October's",
          len(recs) == 3 and not any("0000000000001004" in r for r in recs), recs)
    shot(driver, "tsp-records")

    def freq(path):
        c = http.client.HTTPConnection(fhost, timeout=60)
        c.request("GET", path, headers={"Cookie": "sealine_ui=" + fcookie})
        r = c.getresponse()
        return r.status, r.getheader("Content-Type", ""), r.read().decode()

    st, ctype, text = freq("/tsp/billing.csv?month=2026-11")
    check("billing as CSV",
          st == 200 and ctype.startswith("text/csv") and text.splitlines() == [
              "account,month,calls,answered,seconds,bytes_up,bytes_down",
              "111111111111,2026-11,2,1,125,1000,2000",
              "222222222222,2026-11,1,1,61,10,20"], text)
    st, ctype, text = freq("/tsp/records.csv?month=2026-11&account=222222222222")
    check("records as CSV, filtered by account",
          st == 200 and len(text.splitlines()) == 4 and "0000000000001003" in text, text)
    go(fbase + "/tsp/records?month=2026-13")
    check("an impossible month is refused with a message", "YYYY-MM" in main_text(driver))
    go(fbase + "/tsp/calls")
    rows = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#calls tbody tr")]
    check("TSP calls shows the call on its line",
          any("modem0" in r and "111111111111" in r and "222222222222" in r and "00000000000000aa" in r
              for r in rows), rows)
    shot(driver, "tsp-calls")

    # The spool: tests/ui/tsp-put's four rows, two open and two closed.
    go(fbase + "/tsp/accounts")
    driver.find_element(By.LINK_TEXT, "Spool").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "spool-summary"))
    ids = [r.get_attribute("id") for r in driver.find_elements(By.CSS_SELECTOR, "#spool tbody tr")]
    check("the spool page lists the envelopes held, not the closed ones",
          ids == ["spool-00000000000000a1", "spool-00000000000000a2"], ids)
    summary = driver.find_element(By.ID, "spool-summary").text
    check("the spool's summary counts what is held", summary.startswith(
        "2 held for delivery, 305000 bytes"), summary)
    row = driver.find_element(By.ID, "spool-00000000000000a1").text
    check("a held envelope's row: accounts, sizes, attempts, next attempt",
          all(x in row for x in ("held", "111111111111", "222222222222", "300000", "524288",
                                 "2026-11-04 00:10", "expires 2026-11-18 00:00", " 2 ")), row)
    driver.find_element(By.ID, "all").click()
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form.filter button"))
    ids = [r.get_attribute("id") for r in driver.find_elements(By.CSS_SELECTOR, "#spool tbody tr")]
    check("'Closed envelopes too' lists all four", len(ids) == 4, ids)
    delivered = driver.find_element(By.ID, "spool-00000000000000a3")
    delivered.find_element(By.TAG_NAME, "summary").click()
    receipt = delivered.find_element(By.TAG_NAME, "pre").text
    check("a delivered envelope shows its receipt, collected, line by line and escaped",
          "Receipt, collected" in delivered.text
          and receipt.splitlines() == ["sealine receipt", "from: 111111111111",
                                       "note: <b>not bold</b>"]
          and not driver.find_elements(By.CSS_SELECTOR, "#spool pre b"), (delivered.text, receipt))
    bounced = driver.find_element(By.ID, "spool-00000000000000a4").text
    check("a bounced envelope shows its reason and an uncollected notice",
          "bounced" in bounced and "NOT_AUTHORISED" in bounced
          and "Notice, not collected" in bounced, bounced)
    driver.execute_script("document.querySelectorAll('.scroll').forEach(e => e.scrollLeft = 0)")
    shot(driver, "tsp-spool")
    go(fbase + "/tsp/spool?all=yes&account=222222222222")
    ids = [r.get_attribute("id") for r in driver.find_elements(By.CSS_SELECTOR, "#spool tbody tr")]
    check("the spool filtered by account: what it sent and what it is sent",
          ids == ["spool-00000000000000a1", "spool-00000000000000a3"], ids)
    st, _, text = freq("/tsp/spool?account=12345")
    check("a bad account on the spool page is refused with a message",
          st == 400 and "12 digits" in text, st)
except Exception as e:  # a step that could not go on: one failure, with the page
    check("the browser test ran to its end", False,
          "%s (%s, line %d) at %s: %s" % (type(e).__name__, getattr(e, "msg", e),
                                          [f for f in traceback.extract_tb(e.__traceback__)
                                           if f.filename == __file__][-1].lineno,
                                          driver.current_url,
                                driver.find_element(By.TAG_NAME, "body").text[:800])
          + " / the stand-in's last requests: %s" % (
              open(os.environ["FAKE_LOG"]).read().splitlines()[-6:]
              if os.path.exists(os.environ["FAKE_LOG"]) else "none yet"))
finally:
    driver.quit()

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
