"""Benchmark the PII engine against Presidio (regex-only) on the labelled corpus.

    python bench/pii.py [--repeat N] [--no-presidio]

Prints recall and precision per entity and overall, and single-thread throughput
(MB/s of UTF-8 input, strings/s) for Seawall's ``scan`` and Presidio 2.2.x with the
``no_op``-equivalent setup: no NLP model, pattern recognizers only (custom patterns
for entities it lacks), no network.  A prediction counts when its entity matches a
labelled span and the two overlap by at least half of their union (IoU >= 0.5).
Also times ``scan_lines`` on fresh lines (same generator, another seed: no cache has
seen them) and ``seawall scan`` end to end as a subprocess, on the corpus repeated and
on as many fresh lines.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "pii" / "corpus.jsonl"
ENTITIES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS", "CREDIT_CARD", "IBAN_CODE",
            "US_SSN", "JWT", "SECRET_KEY", "URL_CREDENTIALS")  # fmt: skip

Span = tuple[str, int, int]
Detect = Callable[[str], list[Span]]


def load() -> list[tuple[str, list[Span]]]:
    rows = []
    for raw in CORPUS.read_text("utf-8").splitlines():
        row = json.loads(raw)
        rows.append((row["text"], [(e, s, t) for e, s, t in row["spans"]]))
    return rows


def _iou(a: Span, b: Span) -> float:
    inter = min(a[2], b[2]) - max(a[1], b[1])
    union = max(a[2], b[2]) - min(a[1], b[1])
    return inter / union if inter > 0 else 0.0


def score(
    rows: list[tuple[str, list[Span]]], predictions: list[list[Span]]
) -> dict[str, list[int]]:
    """Per entity: [true positives, false positives, false negatives]."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (_text, gold), pred in zip(rows, predictions, strict=True):
        matched: set[int] = set()
        for p in pred:
            hit = next((i for i, g in enumerate(gold)
                        if i not in matched and g[0] == p[0] and _iou(g, p) >= 0.5), None)  # fmt: skip  # noqa: E501
            if hit is None:
                counts[p[0]][1] += 1
            else:
                matched.add(hit)
                counts[p[0]][0] += 1
        for i, g in enumerate(gold):
            if i not in matched:
                counts[g[0]][2] += 1
    return counts


def _ratio(a: int, b: int) -> float:
    return a / b if b else 1.0


def report(name: str, counts: dict[str, list[int]]) -> dict[str, tuple[float, float]]:
    result = {}
    total = [0, 0, 0]
    for entity in ENTITIES:
        tp, fp, fn = counts.get(entity, [0, 0, 0])
        total = [total[0] + tp, total[1] + fp, total[2] + fn]
        result[entity] = (_ratio(tp, tp + fn), _ratio(tp, tp + fp))
    result["OVERALL"] = (
        _ratio(total[0], total[0] + total[2]),
        _ratio(total[0], total[0] + total[1]),
    )
    return result


def timed(detect: Detect, texts: Sequence[str], repeat: int) -> tuple[list[list[Span]], float]:
    """Predictions and CPU seconds (the machine is shared: wall time measures the others)."""
    start = time.process_time()
    predictions = [detect(t) for t in texts]
    for _ in range(repeat - 1):
        for t in texts:
            detect(t)
    return predictions, time.process_time() - start


def timed_batch(texts: Sequence[str], repeat: int) -> tuple[list[list[Span]], float]:
    """``Scanner.scan_lines`` over the whole corpus: the path ``seawall scan`` takes."""
    from seawall.pii.engine import Scanner

    scanner = Scanner()
    start = time.process_time()
    for _ in range(repeat):
        found = scanner.scan_lines(texts)
    elapsed = time.process_time() - start
    return [[(f.entity, f.start, f.end) for f in fs] for fs in found], elapsed


def per_call_us(call: Callable[[], object], loops: int = 20000) -> float:
    """CPU microseconds per call, best of three rounds."""
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for _ in range(loops):
            call()
        best = min(best, (time.process_time() - start) / loops * 1e6)
    return best


def seawall_detector(backend: str | None = None) -> Detect:
    from seawall.pii.backends import backend_named
    from seawall.pii.engine import Scanner

    scanner = Scanner(backend_named(backend)) if backend else Scanner()
    return lambda text: [(f.entity, f.start, f.end) for f in scanner.scan(text)]


def presidio_detector() -> Detect:
    import tldextract  # presidio's email and URL validation consult the Public Suffix List
    from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine

    class NoOpNlpEngine(NlpEngine):
        """Presidio's regex-only mode: no model, no tokens, no lemmas."""

        def load(self) -> None: ...
        def is_loaded(self) -> bool:
            return True

        def process_text(self, text: str, language: str) -> NlpArtifacts:
            return NlpArtifacts(
                entities=[],
                tokens=[],
                tokens_indices=[],
                lemmas=[],
                nlp_engine=self,
                language=language,
            )

        def process_batch(self, texts, language, batch_size=1, n_process=1, **kwargs):  # type: ignore[no-untyped-def]
            for t in texts:
                yield t, self.process_text(t, language)

        def is_stopword(self, word: str, language: str) -> bool:
            return False

        def is_punct(self, word: str, language: str) -> bool:
            return False

        def get_supported_entities(self) -> list[str]:
            return []

        def get_supported_languages(self) -> list[str]:
            return ["en"]

    # No network: the suffix list is taken from the snapshot bundled with tldextract.
    extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    tldextract.extract = extractor  # type: ignore[assignment]
    tldextract.TLDExtract.__call__.__defaults__  # noqa: B018 - touch to fail loudly if renamed
    registry = RecognizerRegistry()
    registry.load_predefined_recognizers(languages=["en"])
    keep = {"EmailRecognizer", "PhoneRecognizer", "IpRecognizer", "CreditCardRecognizer",
            "IbanRecognizer", "UsSsnRecognizer"}  # fmt: skip
    registry.recognizers = [r for r in registry.recognizers if r.name in keep]
    custom = {
        "JWT": r"\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*",
        "SECRET_KEY": r"\b(?:sk-(?:proj-)?[A-Za-z0-9_-]{20,}|AKIA[A-Z0-9]{16}|gh[pousr]_[A-Za-z0-9]{36}"  # noqa: E501
        r"|github_pat_[A-Za-z0-9_]{22,}|xox[baprs]-[A-Za-z0-9-]{10,}|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"
        r"|AIza[A-Za-z0-9_-]{35}|ya29\.[A-Za-z0-9_-]{20,})"
        r"|(?<=(?:api_key|secret|token)=)[A-Za-z0-9_+/=.-]{16,}",
        "URL_CREDENTIALS": r"(?<=://)[^\s/?#@:]+:[^\s/?#@]+(?=@)",
    }
    for entity, regex in custom.items():
        registry.add_recognizer(
            PatternRecognizer(
                supported_entity=entity, patterns=[Pattern(entity.lower(), regex, 0.6)]
            )
        )
    engine = AnalyzerEngine(registry=registry, nlp_engine=NoOpNlpEngine(),
                            supported_languages=["en"])  # fmt: skip
    entities = list(ENTITIES)

    def detect(text: str) -> list[Span]:
        results = engine.analyze(text, language="en", entities=entities, score_threshold=0.3)
        spans = sorted(
            ((r.entity_type, r.start, r.end) for r in results), key=lambda s: (s[1], -s[2])
        )
        kept: list[Span] = []
        for s in spans:  # Presidio may return overlaps; keep the first, longest
            if not kept or s[1] >= kept[-1][2]:
                kept.append(s)
        return kept

    return detect


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli_throughput(payload: bytes) -> tuple[float, float]:
    """``seawall scan`` as a subprocess, process start included: (CPU seconds of the
    process and its workers, wall seconds).  Wall time also measures the machine's
    other load; CPU time does not show what the parallel workers save."""
    before = _children_cpu()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "seawall", "scan"], input=payload,
                   stdout=subprocess.DEVNULL, check=False)  # fmt: skip
    return _children_cpu() - before, time.perf_counter() - start


def fresh_lines(count: int, seed: int) -> list[str]:
    """Lines from the corpus generator with another seed: the same kinds of strings,
    new values, so no cache (libphonenumber's results) has seen them."""
    sys.path.insert(0, str(CORPUS.parent))
    import make_corpus  # type: ignore[import-not-found]

    rng = random.Random(seed)
    gen = make_corpus.Gen(rng)
    pos, neg = make_corpus.positives(gen), make_corpus.negatives(gen)
    return [str(make_corpus.line(gen, pos, neg)["text"]) for _ in range(count)]


def mostly_clean_lines(count: int, seed: int) -> list[str]:
    """What analytics strings mostly are: nine in ten clean (page titles, paths, button
    texts: random words, no digits), one in ten a fresh corpus-like line."""
    sys.path.insert(0, str(CORPUS.parent))
    import make_corpus  # type: ignore[import-not-found]

    rng = random.Random(seed)
    dense = iter(fresh_lines(count // 10 + 1, seed=seed + 1))
    words, hosts = make_corpus.WORDS, make_corpus.HOSTS
    shapes = (
        lambda: " ".join(rng.choice(words).capitalize() for _ in range(rng.randint(1, 4))),
        lambda: f"https://{rng.choice(hosts)}/" + "/".join(rng.sample(words, rng.randint(1, 3))),
        lambda: f"{rng.choice(words).capitalize()} - Example Inc.",
    )
    return [next(dense) if rng.random() < 0.1 else rng.choice(shapes)() for _ in range(count)]


def print_cli(texts: Sequence[str], repeat: int) -> None:
    """End to end on the corpus repeated, on as many fresh lines, and on a mostly clean
    mix of the same size.  ``seawall scan`` scans each distinct line once per process,
    so the repeated corpus measures mostly reading, lookups and output; the fresh
    lines (no line twice) are the figure for the engine."""
    replicated = ("\n".join(texts) + "\n").encode() * repeat
    fresh = ("\n".join(fresh_lines(len(texts) * repeat, seed=repeat)) + "\n").encode()
    clean = mostly_clean_lines(len(texts) * repeat * 2, seed=repeat)
    mixed = ("\n".join(clean) + "\n").encode()[: len(replicated)]
    mixed = mixed[: mixed.rfind(b"\n") + 1]
    runs = (
        (f"corpus x{repeat} (repeated lines)", replicated),
        ("fresh lines", fresh),
        ("mostly clean", mixed),
    )
    for label, payload in runs:
        cpu, wall = cli_throughput(payload)
        mb = len(payload) / 1e6
        lines = payload.count(b"\n")
        print(
            f"seawall scan end to end, {label} ({mb:.1f} MB, {lines} lines, start included): "
            f"{mb / cpu:.2f} MB/s CPU ({lines / cpu:.0f} lines/s), {mb / wall:.2f} MB/s wall"
        )


def timed_fresh(count: int) -> tuple[float, float]:
    """``scan_lines`` on fresh lines, libphonenumber's cache cleared: (MB/s, lines/s)."""
    from seawall.pii import phone
    from seawall.pii.engine import Scanner

    texts = fresh_lines(count, seed=1)
    scanner = Scanner()
    phone._valid.cache_clear()
    start = time.process_time()
    scanner.scan_lines(texts)
    elapsed = time.process_time() - start
    return sum(len(t.encode()) for t in texts) / 1e6 / elapsed, count / elapsed


#: What the policy hands the engine for most kept strings: short and clean.
SHORT_CLEAN = ("Chrome", "Sign up for free", "Pricing - Example Inc.", "Mac OS X", "Add to cart")
TYPICAL_URL = (
    "https://app.example.com/settings/billing?utm_source=newsletter&utm_medium=email&ref=nav"
)


def print_per_call() -> None:
    """CPU cost per call of the gateway's hot-path functions."""
    from seawall.pii import KnownValues, redact, scrub_url

    known = KnownValues.cached(frozenset({"Zoë Doe", "zoe@example.com"}))
    for text in SHORT_CLEAN[:2]:
        plain = per_call_us(lambda t=text: redact(t))
        with_known = per_call_us(lambda t=text: redact(t, known=known))
        print(f"redact({text!r}): {plain:.2f} us/call, with known values {with_known:.2f} us")
    url_us = per_call_us(lambda: scrub_url(TYPICAL_URL, known=known), loops=2000)
    print(f"scrub_url(typical URL with UTM tags, known values): {url_us:.1f} us/call")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="passes over the corpus for Seawall")
    parser.add_argument("--no-presidio", action="store_true")
    parser.add_argument(
        "--cli-repeat", type=int, default=100, help="copies of the corpus fed to seawall scan"
    )
    args = parser.parse_args()
    rows = load()
    texts = [t for t, _ in rows]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    print(f"corpus: {len(texts)} strings, {mb:.3f} MB, "
          f"{sum(len(g) for _, g in rows)} labelled spans")  # fmt: skip
    systems: dict[str, tuple[Detect, int]] = {"seawall": (seawall_detector(), args.repeat)}
    for backend in ("re2", "re"):
        systems[f"seawall[{backend}]"] = (seawall_detector(backend), 1)
    if not args.no_presidio:
        systems["presidio"] = (presidio_detector(), 1)
    results = {}
    speed = {}
    for name, (detect, repeat) in systems.items():
        predictions, elapsed = timed(detect, texts, repeat)
        results[name] = report(name, score(rows, predictions))
        speed[name] = (mb * repeat / elapsed, len(texts) * repeat / elapsed)
        if name == "seawall":
            predictions, elapsed = timed_batch(texts, repeat)
            results["seawall[batch]"] = report(name, score(rows, predictions))
            speed["seawall[batch]"] = (mb * repeat / elapsed, len(texts) * repeat / elapsed)
    names = list(speed)
    print(f"\n{'entity':<17}" + "".join(f"{n:>22}" for n in names))
    print(f"{'':<17}" + "".join(f"{'recall  precision':>22}" for _ in names))
    for entity in (*ENTITIES, "OVERALL"):
        cells = "".join(
            f"{results[n][entity][0]:>11.3f}{results[n][entity][1]:>11.3f}" for n in names
        )
        print(f"{entity:<17}{cells}")
    print(f"\n{'throughput':<17}" + "".join(f"{speed[n][0]:>13.2f} MB/s{'':>4}" for n in names))
    print(f"{'':<17}" + "".join(f"{speed[n][1]:>10.0f} str/s{'':>6}" for n in names))
    if "presidio" in speed:
        per_string = speed["seawall"][0] / speed["presidio"][0]
        batched = speed["seawall[batch]"][0] / speed["presidio"][0]
        print(f"\nseawall / presidio throughput: {per_string:.0f}x per string, "
              f"{batched:.0f}x batched (goal: 250x)")  # fmt: skip
    fresh_mb, fresh_lps = timed_fresh(len(texts))
    print(f"scan_lines on {len(texts)} fresh lines, cold caches: {fresh_mb:.2f} MB/s, "
          f"{fresh_lps:.0f} strings/s")  # fmt: skip
    print_per_call()
    print_cli(texts, args.cli_repeat)


if __name__ == "__main__":
    main()
