"""Evaluators: checks, planted models (vs enumeration), OpenAI client vs a fake server."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from jaxcert.rare._cache import EvalCache
from jaxcert.rare.evaluators import (
    EvaluationError,
    OpenAIChatEvaluator,
    cached_evaluator,
    extract_answer,
    planted_corner_evaluator,
    planted_evaluator,
    python_evaluator,
)
from jaxcert.rare.templates import load_gsm_alt


@pytest.mark.parametrize(
    "text, want",
    [
        ("so 3 + 4 = 7\n#### 1,234", 1234.0),
        ("The answer is \\boxed{-2.5} (not 3)", -2.5),
        ("first 12, then 15 apples.", 15.0),
        ("#### $18.", 18.0),
        ("I do not know", None),
        ("#### none", None),
        (None, None),
    ],
)
def test_extract_answer(text, want):
    assert extract_answer(text) == want


def test_python_evaluator_checks_and_batches():
    calls = []

    def fn(X):
        calls.append(X.shape[0])
        return X[:, 0] % 2 == 1

    ev = python_evaluator(fn, batch_size=3, d=2)
    out = ev(np.array([[1, 0], [2, 0], [3, 0], [4, 0], [5, 0]]))
    assert out.tolist() == [1.0, 0.0, 1.0, 0.0, 1.0] and calls == [3, 2]
    with pytest.raises(ValueError, match=r"X must be an int array of shape \(B, 2\)"):
        ev(np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match="integer category indices"):
        ev(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"must return one failure value per input, shape \(2,\)"):
        python_evaluator(lambda X: np.zeros(3))(np.zeros((2, 1), dtype=int))
    with pytest.raises(ValueError, match=r"finite failure fractions in \[0, 1\]"):
        python_evaluator(lambda X: np.full(X.shape[0], 2.0))(np.zeros((2, 1), dtype=int))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        python_evaluator(fn, batch_size=0)


def test_cached_evaluator_calls_once(tmp_path):
    n = {"calls": 0}

    def fn(X):
        n["calls"] += X.shape[0]
        return (X[:, 0] == 1).astype(float)

    cache = EvalCache(tmp_path / "c.jsonl")
    ev = cached_evaluator(python_evaluator(fn), cache, "ns", "t")
    X = np.array([[1], [2], [1]])
    first = ev(X)
    assert ev(X).tolist() == first.tolist() == [1.0, 0.0, 1.0]
    assert ev.calls == 3 and ev.hits == 3  # first call: all new; second call: all cached
    cache.close()
    ev2 = cached_evaluator(python_evaluator(fn), EvalCache(tmp_path / "c.jsonl"), "ns", "t")
    calls_before = n["calls"]
    assert ev2(X).tolist() == first.tolist() and n["calls"] == calls_before and ev2.calls == 0


@pytest.fixture(scope="module")
def space():
    return load_gsm_alt(17)


def test_planted_evaluators_exact_rate(space):
    X = space.enumerate()
    valid = space.is_valid(X)
    v = space.values(X[valid])
    want = np.mean((v["x"] >= 150) & (v["p"] % 2 == 1))
    ev, mu = planted_evaluator(space, lambda v: (v["x"] >= 150) & (v["p"] % 2 == 1))
    assert mu == pytest.approx(want, rel=1e-12) and 0 < mu < 1
    ev2, mu2 = planted_corner_evaluator(space, 1e-3)
    assert mu2 == pytest.approx(1e-3, rel=1e-6)
    assert mu2 == pytest.approx(np.mean(ev2(X[valid])), rel=1e-12)
    top = np.asarray(space.sizes) - 1
    assert ev2(top[None])[0] == 1.0
    ev3, mu3 = planted_corner_evaluator(space, 1e-3, samples=10)
    assert np.all(np.isin(ev3(X[valid]) * 10, np.arange(11))) and 0 < mu3 <= 1e-3
    with pytest.raises(ValueError, match=r"mass must be in \(0, 1\)"):
        planted_corner_evaluator(space, 0.0)


# -- fake OpenAI-compatible server ------------------------------------------------------------


class _Server:
    """Replies per question according to a script: list of behaviours consumed in order."""

    def __init__(self):
        self.script, self.count, self.lock = {}, {}, threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                q = body["messages"][-1]["content"]
                with outer.lock:
                    outer.count[q] = outer.count.get(q, 0) + 1
                    todo = outer.script.get(q, ["500"])
                    act = todo.pop(0) if len(todo) > 1 else todo[0]
                if act.startswith("sleep"):
                    time.sleep(float(act.split(":")[1]))
                    act = act.split(":", 2)[2]
                if act in ("500", "429", "400"):
                    self.send_response(int(act))
                    self.end_headers()
                    return
                payload = (
                    b"{not json"
                    if act == "badjson"
                    else json.dumps(
                        {"choices": [{"message": {"role": "assistant", "content": act}}]}
                    ).encode()
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def total(self):
        return sum(self.count.values())


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def _inputs(space, n):
    X = space.enumerate(valid_only=True)
    return X[np.linspace(0, X.shape[0] - 1, n).astype(int)]


def _ev(space, server, tmp_path, **kw):
    opts = dict(concurrency=4, timeout=2.0, max_retries=2, backoff=0.01, cache_dir=tmp_path)
    opts.update(kw)
    return OpenAIChatEvaluator(space, server.url, "fake-model", **opts)


def test_right_wrong_garbage_and_cache(space, server, tmp_path):
    X = _inputs(space, 4)
    a = space.answers(X)
    qs = [space.render(x) for x in X]
    server.script = {
        qs[0]: [f"Work...\n#### {a[0]:.0f}"],
        qs[1]: [f"#### {a[1] + 1:.0f}"],
        qs[2]: ["I cannot solve this."],
        qs[3]: [f"\\boxed{{{a[3]:,.0f}}}"],
    }
    ev = _ev(space, server, tmp_path)
    assert ev(X).tolist() == [0.0, 1.0, 1.0, 0.0]
    assert server.total() == 4 and ev.errors["no_answer"] == 1
    assert ev(X).tolist() == [0.0, 1.0, 1.0, 0.0] and server.total() == 4  # cache: no new request
    recs = [json.loads(line) for line in (tmp_path / "evaluations.jsonl").read_text().splitlines()]
    assert sorted(r["status"] for r in recs) == ["no_answer", "ok", "ok", "ok"]
    # resume: a fresh evaluator on the same cache_dir pays nothing
    ev2 = _ev(space, server, tmp_path)
    assert ev2(X).tolist() == [0.0, 1.0, 1.0, 0.0] and server.total() == 4 and ev2.hits == 4


def test_retries_on_500_429_timeout_and_bad_json(space, server, tmp_path):
    X = _inputs(space, 4)
    a = space.answers(X)
    qs = [space.render(x) for x in X]
    ok = [f"#### {v:.0f}" for v in a]
    server.script = {
        qs[0]: ["500", "429", ok[0]],
        qs[1]: [f"sleep:1.0:{ok[1]}", ok[1]],
        qs[2]: ["badjson", ok[2]],
        qs[3]: [ok[3]],
    }
    ev = _ev(space, server, tmp_path, timeout=0.3)
    assert ev(X).tolist() == [0.0] * 4
    assert server.count[qs[0]] == 3 and server.count[qs[1]] == 2 and server.count[qs[2]] == 2
    assert ev.errors["http_500"] == 1 and ev.errors["http_429"] == 1
    assert ev.errors["timeout"] == 1 and ev.errors["malformed_response"] == 1


def test_unanswerable_raises_after_batch_then_resumes(space, server, tmp_path):
    X = _inputs(space, 3)
    a = space.answers(X)
    qs = [space.render(x) for x in X]
    server.script = {qs[0]: [f"#### {a[0]:.0f}"], qs[1]: ["500"], qs[2]: ["400"]}
    ev = _ev(space, server, tmp_path)
    with pytest.raises(EvaluationError, match=r"2 of 3 model calls failed after 2 retries"):
        ev(X)
    assert server.count[qs[1]] == 3  # 1 try + 2 retries
    assert server.count[qs[2]] == 1  # 4xx other than 429: not retried
    # simulated kill mid-write: a truncated last line must not break the cache
    with open(tmp_path / "evaluations.jsonl", "a") as f:
        f.write('{"key": "trunc')
    server.script = {
        qs[0]: ["should not be asked"],
        qs[1]: [f"#### {a[1]:.0f}"],
        qs[2]: [f"#### {a[2] + 5:.0f}"],
    }
    ev2 = _ev(space, server, tmp_path)
    assert ev2.cache.skipped_lines == 1
    assert ev2(X).tolist() == [0.0, 0.0, 1.0]
    assert server.count[qs[0]] == 1  # never paid twice
    lines = (tmp_path / "evaluations.jsonl").read_text().splitlines()
    assert all(json.loads(line) for line in lines if not line.startswith('{"key": "trunc'))


def test_samples_per_input_gives_fractions(space, server, tmp_path):
    X = _inputs(space, 1)
    q = space.render(X[0])
    server.script = {q: [f"#### {space.answers(X)[0]:.0f}", "#### -1", "#### -1", "#### -1"]}
    ev = _ev(space, server, tmp_path, samples_per_input=4, concurrency=1)
    assert ev(X).tolist() == [0.75]


def test_openai_argument_checks(space):
    with pytest.raises(ValueError, match="base_url must be an http"):
        OpenAIChatEvaluator(space, "localhost:8000", "m")
    with pytest.raises(ValueError, match="concurrency must be a positive int"):
        OpenAIChatEvaluator(space, "http://x/v1", "m", concurrency=0)
    with pytest.raises(ValueError, match="model must be a non-empty string"):
        OpenAIChatEvaluator(space, "http://x/v1", "")
