#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""
tests/vm/ui-browser.py - the operators' job in sealine-ui, with real
daemons on a real line (tests/vm/96-ui.sh starts them): headless
Chromium driven by Selenium (Debian's chromium, chromium-driver,
python3-selenium) in the test VM.

    ui-browser.py URL_A URL_B DIR ACCOUNT_A ACCOUNT_B

URL_A, URL_B: what the sealine-ui of A and of B printed (with their
access tokens). DIR: the test's directory (files/ to send, downloads/,
b.sock: B's control socket). $SEALCTL is sealctl.

A's operator pairs from the browser while B's runs `sealctl pair` (each
side in its default role: whoever's screen shows the code reads it out,
the other types it), addresses an envelope to B, uploads two files,
sends, and watches the progress page up to B's signed receipt; B's
operator finds the envelope in B's inbox page and downloads every file,
byte-exact; both logs show it. Prints "ok: ..." / "FAIL: ..." per check and ends with
"N passed, N failed". Every wait is bounded by a count of polls or by
Selenium's timeout, never judged by the time it took.
"""
import os
import re
import subprocess
import sys
import threading
import time
import traceback

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

URL_A, URL_B, DIR, ACCT_A, ACCT_B = sys.argv[1:6]
BASE_A = URL_A.split("/login")[0]
BASE_B = URL_B.split("/login")[0]
SEALCTL = os.environ["SEALCTL"]
WAIT = 180      # Selenium's bound for one page under TCG
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok: " + name, flush=True)
    else:
        failed += 1
        print("FAIL: " + name + (": " + str(detail)[:600] if detail else ""), flush=True)


class Operator:
    """B's operator: `sealctl pair ttyS2`, reading its screen and typing."""

    def __init__(self):
        self.p = subprocess.Popen(
            [SEALCTL, "pair", "ttyS2", "--socket", os.path.join(DIR, "b.sock")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.screen = b""
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        while True:
            b = self.p.stdout.read1(4096)
            if not b:
                return
            self.screen += b

    def text(self):
        return self.screen.decode("utf-8", "replace")

    def say(self, line):
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()


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
driver.set_page_load_timeout(WAIT)
wait = WebDriverWait(driver, WAIT, ignored_exceptions=[WebDriverException])


def go(url):
    wait.until(lambda d: d.get(url) or True)


def click_and_wait(el):
    old = driver.find_element(By.TAG_NAME, "html")
    el.click()
    WebDriverWait(driver, WAIT, ignored_exceptions=[WebDriverException]).until(
        EC.staleness_of(old))


def main_text(d):
    return d.find_element(By.TAG_NAME, "main").text


try:
    go(URL_A)
    check("A's sealine-ui lets the token's URL in",
          driver.current_url.rstrip("/") == BASE_A and driver.find_elements(By.ID, "to"),
          driver.current_url)

    # ---- Pairing: A's operator in the browser, B's with sealctl pair --------
    op = Operator()
    for _ in range(600):    # B arms first, as an operator told "go ahead"
        if "Waiting up to" in op.text():
            break
        time.sleep(0.1)
    go(BASE_A + "/pair")
    Select(driver.find_element(By.ID, "pair-line")).select_by_value("ttyS1")
    click_and_wait(driver.find_element(By.ID, "pair-start"))
    shows = wait.until(lambda d: ("code" if d.find_elements(By.ID, "sas-code") and
                                  d.find_element(By.ID, "sas-code").text else None) or
                       ("type" if d.find_elements(By.ID, "sas") else None))
    if shows == "code":
        code = driver.find_element(By.ID, "sas-code").text
        peer = driver.find_element(By.ID, "pair-peer").text
        for _ in range(1200):
            if "Type the code" in op.text():
                break
            time.sleep(0.1)
        op.say(code)    # B's operator types what A's reads out
        click_and_wait(driver.find_element(By.ID, "confirm-yes"))
    else:
        code = None
        for _ in range(1200):
            m = re.search(r"^Code: ([0-9A-Z]{5})$", op.text(), re.M)
            if m:
                code = m.group(1)
                break
            time.sleep(0.1)
        peer = ACCT_B if code else None

        def type_code(d):   # again if a page load got in between
            el = d.find_element(By.ID, "sas")
            el.clear()
            el.send_keys(code)
            return el.get_attribute("value") == code

        wait.until(type_code)
        click_and_wait(driver.find_element(By.ID, "sas-send"))
        for _ in range(1200):
            if "[y/N]" in op.text():
                break
            time.sleep(0.1)
        op.say("y")     # A's operator said it matches
    result = wait.until(lambda d: d.find_element(By.ID, "pair-result").text)
    try:
        rc = op.p.wait(timeout=120)
    except subprocess.TimeoutExpired:
        op.p.kill()
        rc = None
    print("pairing: A's screen %s the code; B's sealctl pair:\n%s" % (
        "showed" if shows == "code" else "asked for", op.text()), flush=True)
    check("pairing from the browser: the page names the other side's account",
          peer == ACCT_B, peer)
    check("pairing from the browser: paired on both sides",
          "Paired with " + ACCT_B in result and rc == 0, (result, rc))

    # ---- The envelope: address it, attach two files, send ---------------------
    subprocess.run([SEALCTL, "peers", "name", ACCT_B, "Müller GmbH", "--socket",
                    os.path.join(DIR, "a.sock")], check=True, stdout=subprocess.DEVNULL)
    go(BASE_A + "/")
    sel = Select(driver.find_element(By.ID, "to"))
    labels = [o.text for o in sel.options]
    check("To lists B by name, paired and authorised",
          any(ACCT_B in t and "Müller GmbH" in t and "paired, authorised" in t
              for t in labels), labels)
    sel.select_by_value(ACCT_B)
    names = ("Bericht März.txt", "random.bin")
    files = [os.path.join(DIR, "files", n) for n in names]
    driver.find_element(By.ID, "files").send_keys("\n".join(files))
    click_and_wait(driver.find_element(By.CSS_SELECTOR, "button[type=submit]"))
    wait.until(lambda d: re.search(r"/outbox/[0-9a-f]{32}$", d.current_url))
    env_id = driver.current_url.rsplit("/", 1)[1]
    check("Send puts the envelope in A's outbox and shows its progress",
          bool(wait.until(lambda d: d.find_elements(By.ID, "progress"))))

    # ---- Its progress, up to B's receipt ---------------------------------------
    states = []
    for _ in range(200):    # the page reloads itself while it is under way
        # found and read in one go: the page may reload between the two
        el, st = wait.until(lambda d: (lambda e: (e, e.text))(
            d.find_element(By.ID, "state")))
        if not states or states[-1] != st:
            states.append(st)
        if st in ("delivered", "failed", "refused", "cancelled"):
            break
        WebDriverWait(driver, WAIT).until(EC.staleness_of(el))
    check("the progress page follows the envelope to delivered by itself",
          states[-1] == "delivered", states)
    receipt = wait.until(lambda d: d.find_element(By.ID, "receipt").text
                         if d.find_elements(By.ID, "receipt") else "-")
    lines = receipt.splitlines()
    check("once delivered it shows B's signed receipt, line by line",
          lines[:1] == ["sealine-receipt 1"] and "recipient " + ACCT_B in lines
          and "sender " + ACCT_A in lines, receipt[:300])

    # ---- B's inbox: the envelope, every file byte-exact ------------------------
    go(URL_B)
    go(BASE_B + "/inbox")
    rows = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "#inbox tbody tr")]
    check("B's inbox page lists the envelope from A with 2 files",
          any(env_id[:8] in r and ACCT_A in r and " 2 " in " " + r + " " for r in rows),
          rows)
    click_and_wait(driver.find_element(By.LINK_TEXT, env_id[:8]))
    listed = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#files tbody a")]
    check("its page lists both files by name", sorted(listed) == sorted(names), listed)
    driver.execute_cdp_cmd("Page.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": downloads})
    for name, src in zip(names, files):
        driver.find_element(By.LINK_TEXT, name).click()
        target = os.path.join(downloads, name)
        for _ in range(1800):
            if os.path.exists(target) and not any(f.endswith(".crdownload")
                                                  for f in os.listdir(downloads)):
                break
            time.sleep(0.1)
        want = open(src, "rb").read()
        got = open(target, "rb").read() if os.path.exists(target) else None
        check("B downloads %s byte-exact" % name, got == want,
              "%s of %d bytes" % (None if got is None else len(got), len(want)))

    # ---- Both logs -------------------------------------------------------------
    def log_rows(d):
        return [r.text for r in d.find_elements(By.CSS_SELECTOR, "#log tbody tr")]

    go(BASE_B + "/log/received")
    rows = wait.until(log_rows)
    check("B's receive log shows it delivered, from A",
          any(env_id in r and "delivered" in r and ACCT_A in r for r in rows), rows)
    go(URL_A)   # cookies do not tell ports apart: A's session again
    go(BASE_A + "/log/sent")
    rows = wait.until(log_rows)
    check("A's send log shows it delivered, to B by name",
          any(env_id in r and "delivered" in r and "Müller GmbH" in r for r in rows), rows)
except Exception:  # noqa: BLE001 - any failure of the driver is a failed check
    check("the browser session ran to its end", False, traceback.format_exc())
    try:
        print(driver.find_element(By.TAG_NAME, "body").text[:800])
    except WebDriverException:
        pass
finally:
    driver.quit()
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
