"""What hostile and huge input costs: time and peak memory, each case in its own process.

Part 1, hostile files: a .docx zip bomb (1 GB of XML in 2.6 MB), a .docx of 1.5 million
empty paragraphs, one of 2.4 million empty runs in one paragraph, a web page of a million
elements, a PDF whose one content stream inflates to 200 MB, one of 100 pages sharing a
stream of 1.9 million empty operators, a text of 30,000 lines without a full stop, and
/dev/zero. Each is read by `load_document` in a fresh process (its peak RSS is
the process's own, from wait4), with a time limit; the table says what the reader
answered.

Part 2, the cost curve of a document summary: `summarize_text` on texts of growing
length, made of the government work reports (../shared/data/gov_reports; corpus/ when
absent) repeated as needed, and the same length with no punctuation at all (one
sentence of a million characters once took quadratic time). Seconds against characters
should be a straight line: near linear at worst.

    python -m benchmarks.limits [--quick]
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile
import zlib
from pathlib import Path

from .common import ROOT, data_file, log, read_jsonl, run_and_print

TIME_LIMIT_S = 600  # a case still running after this is stopped and reported as such
# The lengths of the summary cost curve, in characters.
CURVE = (10_000, 50_000, 200_000, 1_000_000, 2_000_000)
QUICK_CURVE = (10_000, 50_000, 200_000)
NO_PUNCTUATION_CHARS = 1_000_000

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'
)
RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="word/document.xml"/></Relationships>'
)


def docx(path: Path, chunks) -> Path:
    """A .docx whose body is the byte chunks, written as a stream (a whole package, as
    python-docx, which read them before, requires)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("_rels/.rels", RELS)
        with z.open("word/document.xml", "w", force_zip64=True) as f:
            f.write(f'<?xml version="1.0" encoding="UTF-8"?><w:document {W}><w:body>'.encode())
            for chunk in chunks:
                f.write(chunk)
            f.write(b"</w:body></w:document>")
    return path


def pdf_sharing_one_stream(path: Path, content: bytes, pages: int = 1) -> Path:
    """A PDF of `pages` pages that share one Flate-compressed content stream."""
    stream = zlib.compress(content, 9)
    kids = " ".join(f"{4 + i} 0 R" for i in range(pages))
    page = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >> /Contents 3 0 R >>"
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
        *[page] * pages,
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1) + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def pdf(path: Path, inflated_bytes: int) -> Path:
    """A one-page PDF whose content stream inflates to `inflated_bytes`."""
    return pdf_sharing_one_stream(path, b" " * inflated_bytes)


def empty_runs(count: int, chunk: int = 10_000):
    """Byte chunks of `count` empty runs whose revision ids differ, as Word's do: 60 MB of
    XML that compresses some 16 times, under the zip-bomb bounds (issue #27's file)."""
    rng = random.Random(0)
    ids = [b'<w:r w:rsidR="%08X"/>' % rng.getrandbits(32) for _ in range(64)]
    for _ in range(count // chunk):
        yield b"".join(rng.choices(ids, k=chunk))


def hostile_files(folder: Path) -> dict[str, Path]:
    paragraph = ("<w:p><w:r><w:t>" + "党建引领基层治理" * 1000 + "</w:t></w:r></w:p>").encode()
    html = folder / "elements.html"
    with open(html, "w", encoding="utf-8") as f:
        f.write("<html><body>" + "<p>段落</p>" * 1_000_000 + "</body></html>")
    runs = empty_runs(2_400_000)
    lines = folder / "lines.txt"  # one paragraph broken into lines, no full stop anywhere
    lines.write_text("\n".join(["要加强基层党组织建设,发挥党员先锋模范作用推动乡村振兴战略实施"] * 30_000), encoding="utf-8")
    return {
        ".docx zip bomb, 1 GB of XML": docx(folder / "bomb.docx", (paragraph for _ in range(2**30 // len(paragraph)))),
        ".docx of 1.5 M empty paragraphs": docx(folder / "empty.docx", (b"<w:p/>" * 10_000 for _ in range(150))),
        ".docx of 2.4 M empty runs in one paragraph": docx(folder / "runs.docx", [b"<w:p>", *runs, b"</w:p>"]),
        "web page of 1 M elements": html,
        "PDF stream inflating to 200 MB": pdf(folder / "bomb.pdf", 200 * 10**6),
        "PDF of 100 pages sharing 1.9 M empty operators": pdf_sharing_one_stream(folder / "ops.pdf", b"BT ET\n" * 1_900_000, 100),
        ".txt of 30,000 lines without a full stop": lines,
        "/dev/zero": Path("/dev/zero"),
    }


# What each case cost before its bound, as measured when the bound was made (issues #16, #27).
BEFORE = {
    ".docx zip bomb, 1 GB of XML": "556 s, 3.4 GB",
    ".docx of 2.4 M empty runs in one paragraph": "32 s, 2.5 GB (a 3.7 MB file of the kind)",
    "PDF of 100 pages sharing 1.9 M empty operators": "11.6 s a page, up to the 300 s deadline",
    ".txt of 30,000 lines without a full stop": "10,000 lines: 203 s",
    "/dev/zero": "2.3 GB in 6.5 s, then a MemoryError traceback",
}


def in_child(code: str) -> dict:
    """Run Python `code` in a fresh process: its wall time, peak RSS and last stdout line."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        out, _ = child.communicate(timeout=TIME_LIMIT_S)
        timed_out = False
    except subprocess.TimeoutExpired:
        child.kill()
        out, _ = child.communicate()
        timed_out = True
    # The child reports its own peak (RUSAGE_CHILDREN would be the maximum over every
    # child so far); a child stopped or killed reports none.
    peak = _peak_from_status(out)
    lines = out.decode("utf-8", "replace").strip().splitlines()
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "peak_mb": round(peak, 1) if peak else None,
        "answer": f"still running after {TIME_LIMIT_S} s: stopped" if timed_out else (lines[-1] if lines else ""),
    }


def _peak_from_status(out: bytes) -> float | None:
    """The peak RSS (MB) a child printed on its first stdout line."""
    try:
        return float(out.decode().splitlines()[0])
    except (ValueError, IndexError):
        return None


# Peak RSS as the kernel keeps it for this process image (VmHWM): getrusage's ru_maxrss
# survives execve, so a child would report its parent's size.
PEAK = "print(int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) / 1024)"

# The child prints its peak RSS first, then what reading said.
READ = textwrap.dedent(
    """
    from retriever.errors import InputError
    from retriever.reading.load import load_document
    try:
        doc = load_document({path!r})
        answer = f"read: {{len(doc.text):,}} characters"
    except InputError as e:
        answer = "refused: " + e.cause
    {peak}
    print(answer)
    """
)

SUMMARIZE = textwrap.dedent(
    """
    import time
    from retriever import summarize_text
    from retriever.embedding.embedders import load_embedder
    from retriever.config import default_backend, default_model
    text = open({path!r}, encoding="utf-8").read()
    embedder = load_embedder(default_model(), default_backend())
    # Warm: the model, jieba's dictionary and IDF table load before the clock starts.
    summarize_text("预热。基层治理要依靠群众。", embedder=embedder)
    started = time.perf_counter()
    record = summarize_text(text, embedder=embedder)
    seconds = time.perf_counter() - started
    {peak}
    print(f"{{seconds:.3f}} {{len(record.summary.text)}}")
    """
)


def source_text() -> str:
    path = data_file("gov_reports", "documents.jsonl")
    if path is not None:
        return "\n\n".join(d["text"] for d in read_jsonl(path))
    return "\n\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "corpus").glob("*.txt")))


def curve(folder: Path, lengths: tuple[int, ...]) -> list[dict]:
    """summarize_text seconds (model loaded and warm) and peak RSS by text length."""
    source = source_text()
    rows = []
    cases = [(n, "reports") for n in lengths] + [(NO_PUNCTUATION_CHARS, "no punctuation")]
    for n, kind in cases:
        if kind == "no punctuation" and n > max(lengths):
            continue
        text = (source * (n // len(source) + 1))[:n]
        if kind == "no punctuation":
            text = "".join(c for c in text if c.isalnum())
            text = (text * (n // len(text) + 1))[:n]
        path = folder / f"{kind.replace(' ', '-')}-{n}.txt"
        path.write_text(text, encoding="utf-8")
        result = in_child(SUMMARIZE.format(path=str(path), peak=PEAK))
        seconds, _, chars = result["answer"].partition(" ")
        row = {"chars": n, "text": kind, "peak_mb": result["peak_mb"]}
        try:
            row.update(seconds=float(seconds), summary_chars=int(chars))
        except ValueError:
            row.update(seconds=None, error=result["answer"])
        rows.append(row)
        log(f"limits: summary of {n:,} characters ({kind}): {row.get('seconds')} s")
    return rows


def run(quick: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="retriever-limits-") as tmp:
        folder = Path(tmp)
        files = {}
        for name, path in hostile_files(folder).items():
            size = path.stat().st_size if path.is_file() else 0
            files[name] = {"file_mb": round(size / 2**20, 2), **in_child(READ.format(path=str(path), peak=PEAK))}
            log(f"limits: {name}: {files[name]}")
        return {"files": files, "curve": curve(folder, QUICK_CURVE if quick else CURVE)}


def headline(results: dict) -> list[str]:
    bomb = results["files"][".docx zip bomb, 1 GB of XML"]
    rows = [r for r in results["curve"] if r["text"] == "reports" and r.get("seconds")]
    longest = max(rows, key=lambda r: r["chars"])
    return [
        f"hostile input: a 1 GB .docx zip bomb refused in {bomb['seconds']:.2f} s at {bomb['peak_mb']:.0f} MB peak; "
        f"a summary of {longest['chars']:,} characters in {longest['seconds']:.1f} s"
    ]


def markdown(results: dict) -> str:
    out = [
        "Each case in a fresh process (time includes starting Python; peak RSS is that process's own).\n",
        "| input | file | time | peak memory | answer | before its bound |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results["files"].items():
        peak = f"{r['peak_mb']:.0f} MB" if r["peak_mb"] else "?"
        out.append(f"| {name} | {r['file_mb']:.2f} MB | {r['seconds']:.2f} s | {peak} | {r['answer']} | {BEFORE.get(name, '')} |")
    out += [
        "",
        "Document summary (`summarize_text`, default budget) by length; the model is loaded and warm before the "
        "clock starts. Past 100,000 characters of candidate sentences, the most salient are shortlisted before "
        "embedding (`SummaryConfig.max_embedded_chars`).\n",
        "| characters | text | seconds | characters / s | peak memory |",
        "|---|---|---|---|---|",
    ]
    for r in results["curve"]:
        if r.get("seconds") is None:
            out.append(f"| {r['chars']:,} | {r['text']} | {r.get('error', 'failed')} | | |")
            continue
        out.append(
            f"| {r['chars']:,} | {r['text']} | {r['seconds']:.2f} | {r['chars'] / r['seconds']:,.0f} | {r['peak_mb']:.0f} MB |"
        )
    return "\n".join(out) + "\n"


def plot(results: dict, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results["curve"] if r["text"] == "reports" and r.get("seconds")]
    if len(rows) < 2:
        return []
    x = [r["chars"] for r in rows]
    y = [r["seconds"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(x, y, "o-", label="summarize_text")
    # The straight line through the smallest case: where linear cost would be.
    ax.loglog(x, [y[0] * n / x[0] for n in x], "--", color="grey", label="linear from the first point")
    ax.set_xlabel("characters")
    ax.set_ylabel("seconds")
    ax.set_title("Document summary: cost by length")
    ax.legend()
    path = out_dir / "limits_summary_cost.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]


if __name__ == "__main__":
    run_and_print(__doc__, "summaries up to 200,000 characters", run, markdown)
