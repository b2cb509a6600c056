"""`retriever serve` as a real process on a free loopback port, with the real model:
HTTP from outside, `retriever ask` through it, and the search page in headless Chromium."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import required_or_skip

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def service(real, tmp_path_factory):
    """`retriever serve --port 0` over the real index: (url, env, captured stderr lines)."""
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path_factory.mktemp("run")), "RETRIEVER_INDEX": str(real.index.directory)}
    env.pop("RETRIEVER_SERVER", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "retriever", "serve", "--port", "0", "--no-access-log"],
        stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    lines: list[str] = []
    for line in proc.stderr:
        lines.append(line)
        if m := re.search(r"search page\s+(http://127\.0\.0\.1:\d+)/", line):
            url = m.group(1)
            break
    else:
        pytest.fail("retriever serve did not start: " + "".join(lines))
    # Keep reading its log so that the pipe never fills.
    threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
    yield url, env, lines, proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def test_the_service_answers_like_ask(service, real):
    url, env, lines, _ = service
    health = get(f"{url}/healthz")
    assert (health["status"], health["documents"], health["backend"]) == ("ok", 5, "onnx-int8")
    answer = get(f"{url}/api/ask?" + urllib.parse.urlencode({"q": "如何化解矛盾纠纷", "k": 3}))
    local = real.ask("如何化解矛盾纠纷", k=3).to_dict()
    assert [(h["doc_id"], h["start"]) for h in answer["results"]] == [(h["doc_id"], h["start"]) for h in local["results"]]
    assert answer["summary"]["text"] == local["summary"]["text"]
    assert answer["timings_ms"]["load"] < 5  # warmed up at start: the model is not loaded by a request


def test_ask_uses_the_running_service(service):
    url, env, _, _ = service
    proc = subprocess.run(
        [sys.executable, "-m", "retriever", "ask", "如何化解矛盾纠纷", "--json", "--verbose"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"answered by the service at {url}" in proc.stderr
    assert json.loads(proc.stdout)["results"][0]["heading_path"][-1] == "2.完善矛盾纠纷化解机制"


def test_search_page_in_a_headless_browser(service, tmp_path):
    if not Path(CHROMIUM).is_file():
        # CI installs Chromium (.ci/run): there the page must be tested.
        required_or_skip("no Chromium (Debian: apt-get install chromium fonts-noto-cjk)")
    from playwright import sync_api

    url, *_ = service
    shots = Path(os.environ.get("RETRIEVER_SCREENSHOTS") or tmp_path)
    with sync_api.sync_playwright() as p:
        # The flags keep Chromium from reaching for the network, which this machine refuses.
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        for name, viewport in (
            ("search-page", {"width": 1100, "height": 1400}),
            ("search-page-phone", {"width": 390, "height": 844}),
        ):
            page = browser.new_page(viewport=viewport, device_scale_factor=2 if "phone" in name else 1)
            requests: list[str] = []
            page.on("request", lambda r, seen=requests: seen.append(r.url))
            page.goto(f"{url}/")
            page.fill("#q", "如何化解矛盾纠纷")
            page.press("#q", "Enter")
            page.wait_for_selector("article.passage")
            passages = page.locator("article.passage")
            assert passages.count() == 5
            assert "2.完善矛盾纠纷化解机制" in passages.first.locator(".where").inner_text()
            assert "矛盾纠纷" in page.locator("article.passage mark").all_inner_texts()
            sentences = page.locator("section.summary p")
            assert sentences.count() >= 1 and "矛盾纠纷" in page.locator("section.summary").inner_text()
            assert re.fullmatch(r"\[\d\]", sentences.first.locator("a.cite").inner_text())
            # The page speaks Chinese: headings, the status line, the footer.
            assert page.locator("section h2").all_inner_texts() == ["摘要", "段落"]
            assert re.fullmatch(r"5 段 · \d+\.\d 毫秒 · 混合", page.locator("#status").inner_text())
            assert page.locator("footer").inner_text().startswith("段落中标出了问题里的词")
            assert page.url.endswith(
                "?q=%E5%A6%82%E4%BD%95%E5%8C%96%E8%A7%A3%E7%9F%9B%E7%9B%BE%E7%BA%A0%E7%BA%B7&k=5&mode=hybrid"
            )
            # Readable on a phone: nothing wider than the screen.
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
            # Every request stayed on this service: the page works offline.
            assert requests and all(r.startswith(url) for r in requests), requests
            page.screenshot(path=str(shots / f"{name}.png"), full_page="phone" not in name)
            # A question nothing answers: why, in Chinese too.
            page.fill("#q", "qwertyzxcv")
            page.press("#q", "Enter")
            page.wait_for_selector("#notice")
            assert page.locator("#notice h2").inner_text() == "未找到答案"
            assert page.locator("#notice p.why").inner_text() in (
                "没有任何段落与问题中的词语相符。",
                "最接近的段落与问题的语义相似度也低于回答所需的水平,最佳段落也不包含问题的全部词语。",
            )
            # Within one document: the scope's fields offer the index's documents, and
            # every passage comes from the one chosen.
            page.click("#scope summary")
            page.wait_for_selector("#docs option", state="attached")  # the page's CSP allows no evaluated script
            assert page.locator("#docs option").count() == 5
            page.fill("#doc", "corpus/003_1fed32e99714b33a.txt")
            page.fill("#q", "乡村振兴")
            page.press("#q", "Enter")
            page.wait_for_selector("p.within")
            assert re.fullmatch(r"范围内 1 篇文档、\d+ 段", page.locator("p.within").inner_text())
            wheres = page.locator("article.passage .where").all_inner_texts()
            assert wheres and all(w.startswith("corpus/003_1fed32e99714b33a.txt") for w in wheres)
            assert "&doc=corpus%2F003_1fed32e99714b33a.txt" in page.url
            # "This answers it": a judgement kept beside the index, within the same document.
            page.locator("article.passage .judge button.good").first.click()
            page.wait_for_selector("article.passage .judge:has-text('已记下')")
            assert re.fullmatch(
                r"已记下（本索引共 \d+ 条判断，retriever tune 据此调整排序）",
                page.locator("article.passage .judge").first.inner_text(),
            )
            # A shared link: two folders, a k the list lacks, an unknown mode.
            requests.clear()
            two = ["corpus/003_1fed32e99714b33a.txt", "corpus/001_776fa9f986cfe1da.txt"]
            page.goto(f"{url}/?q=乡村振兴&in={two[0]}&in={two[1]}&k=7&mode=fuzzy")
            page.wait_for_selector("article.passage")
            assert page.locator("#in").input_value() == "; ".join(two)
            assert (page.locator("#k").input_value(), page.locator("#mode").input_value()) == ("7", "hybrid")
            asked = [r for r in requests if "/api/ask?" in r][-1]
            assert asked.count("&in=") == 2 and "&k=7&" in asked and "mode=hybrid" in asked, asked
            wheres = page.locator("article.passage .where").all_inner_texts()
            assert wheres and all(w.startswith(tuple(two)) for w in wheres)
            # Failures in Chinese, the service's words after them. A judgement of a result
            # the index no longer holds (as a page shown before `retriever index` sends it):
            # the service refuses it with 409.
            sent: list[dict] = []

            def moved(route, request, sent=sent):
                sent.append(json.loads(request.post_data or "{}"))
                route.continue_(post_data=json.dumps({**sent[-1], "start": sent[-1]["start"] + 1}))

            page.route("**/api/judge", moved)
            page.locator("article.passage .judge button.bad").first.click()
            page.wait_for_selector("article.passage .judge:has-text('未能记下')")
            judged = sent[0]
            assert page.locator("article.passage .judge").first.inner_text() == (
                "未能记下：索引已重新建立，请重新提问后再判断"
                f"（passage {judged['passage_id']} is no longer the result shown ({judged['doc_id']}, "
                f"from {judged['start'] + 1}): the index was indexed again since; ask again and judge the new result）"
            )
            # A k out of range in a shared link: the field named as the form labels it.
            page.goto(f"{url}/?q=乡村振兴&k=500")
            page.wait_for_selector("#status.error")
            assert page.locator("#status").inner_text() == (
                "请求有误：段落数（k (the number of passages) must be a whole number from 1 to 100, not 500）"
            )
            # No answer at all.
            page.route("**/api/ask?*", lambda route: route.abort())
            page.press("#q", "Enter")
            page.wait_for_selector("#status.error:has-text('连不上服务')")
            assert page.locator("#status").inner_text() == "连不上服务，请确认它仍在运行（Failed to fetch）"
            page.close()
        browser.close()
    assert (shots / "search-page.png").stat().st_size > 10_000


def test_stops_cleanly_and_unregisters(service):
    url, env, lines, proc = service
    runtime = Path(env["XDG_RUNTIME_DIR"]) / "retriever" / "servers"
    assert len(list(runtime.glob("*.json"))) == 1
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == -signal.SIGTERM  # uvicorn stops, then ends by the signal it got
    assert list(runtime.glob("*.json")) == []
    assert "Traceback" not in "".join(lines)
