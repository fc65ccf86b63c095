"""OpenAIEvaluator against the fake server: scoring, retries, no input paid twice, cache keys."""

import _thread
import json
import math
import signal
import threading
import time

import numpy as np
import pytest

from jaxcert.rare._cache import EvalCache
from jaxcert.rare.endpoints import OpenAIEvaluator
from jaxcert.rare.evaluators import EvaluationError
from jaxcert.rare.templates import load_gsm_alt

from .fake_openai_server import FakeOpenAIServer


@pytest.fixture(scope="module")
def space():
    return load_gsm_alt(17)


@pytest.fixture
def server():
    s = FakeOpenAIServer()
    yield s
    s.close()


def _inputs(space, n):
    X = space.enumerate(valid_only=True)
    return X[np.linspace(0, X.shape[0] - 1, n).astype(int)]


def _ev(space, server, tmp_path, **kw):
    opts = dict(concurrency=4, timeout=2.0, max_retries=2, backoff=0.01, cache_dir=tmp_path)
    opts.update(kw)
    return OpenAIEvaluator(space, server.url, "fake-model", **opts)


def test_right_wrong_garbage_and_resume(space, server, tmp_path):
    X = _inputs(space, 4)
    a = space.answers(X)
    qs = [space.render(x) for x in X]
    server.script = {qs[0]: [f"Work...\n#### {a[0]:.0f}"], qs[1]: [f"#### {a[1] + 1:.0f}"],
                     qs[2]: ["I cannot solve this."], qs[3]: [f"\\boxed{{{a[3]:,.0f}}}"]}
    ev = _ev(space, server, tmp_path)
    assert ev.cost_per_input == 1
    assert ev(X).tolist() == [0.0, 1.0, 1.0, 0.0]
    assert server.total() == 4 and ev.errors["no_answer"] == 1
    assert ev(X).tolist() == [0.0, 1.0, 1.0, 0.0] and server.total() == 4 and ev.hits == 4
    recs = [json.loads(line) for line in (tmp_path / "evaluations.jsonl").read_text().splitlines()]
    assert sorted(r["status"] for r in recs) == ["no_answer", "ok", "ok", "ok"]
    ev2 = _ev(space, server, tmp_path)  # resume: a fresh evaluator on the same folder pays nothing
    assert ev2(X).tolist() == [0.0, 1.0, 1.0, 0.0] and server.total() == 4 and ev2.hits == 4


def test_retries_and_malformed_replies_never_pass(space, server, tmp_path):
    X = _inputs(space, 5)
    a = space.answers(X)
    qs = [space.render(x) for x in X]
    ok = [f"#### {v:.0f}" for v in a]
    server.script = {qs[0]: ["500", "429", ok[0]], qs[1]: [f"sleep:1.0:{ok[1]}", ok[1]],
                     qs[2]: ["badjson", ok[2]], qs[3]: ["nocontent", ok[3]], qs[4]: [ok[4]]}
    ev = _ev(space, server, tmp_path, timeout=0.3)
    assert ev(X).tolist() == [0.0] * 5
    assert [server.count[q] for q in qs] == [3, 2, 2, 2, 1]
    assert ev.errors["http_500"] == ev.errors["http_429"] == ev.errors["timeout"] == 1
    assert ev.errors["malformed_response"] == 2
    # a server that only ever answers garbage: an error, never a pass
    server.script = {q: ["badjson"] for q in qs}
    ev2 = _ev(space, server, tmp_path / "b", max_retries=1)
    with pytest.raises(EvaluationError, match=r"5 of 5 model calls failed after 1 retries"):
        ev2(X)


def test_failed_calls_raise_after_batch_then_resume(space, server, tmp_path):
    X = _inputs(space, 3)
    a = space.answers(X)
    qs = [space.render(x) for x in X]
    server.script = {qs[0]: [f"#### {a[0]:.0f}"], qs[1]: ["500"], qs[2]: ["400"]}
    with pytest.raises(EvaluationError, match=r"2 of 3 model calls failed after 2 retries"):
        _ev(space, server, tmp_path)(X)
    assert [server.count[q] for q in qs] == [1, 3, 1]  # 4xx other than 429: not retried
    with open(tmp_path / "evaluations.jsonl", "a") as f:
        f.write('{"key": "trunc')  # killed mid-write
    server.script = {qs[0]: ["never asked"], qs[1]: [f"#### {a[1]:.0f}"], qs[2]: ["#### -7"]}
    ev2 = _ev(space, server, tmp_path)
    assert ev2.cache.skipped_lines == 1
    assert ev2(X).tolist() == [0.0, 0.0, 1.0] and server.count[qs[0]] == 1


def test_no_input_paid_twice_within_across_and_concurrent_batches(space, server, tmp_path):
    X = _inputs(space, 6)
    Xd = np.concatenate([X, X[::-1], X[:2]])  # every input 2-3 times in one batch
    server.delay = 0.05
    ev = _ev(space, server, tmp_path, concurrency=8)
    out = {}

    def worker(i):
        out[i] = ev(Xd)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.total() == 6 and max(server.count.values()) == 1
    assert all(v.tolist() == [1.0] * Xd.shape[0] for v in out.values())
    assert ev.requests == 6 and ev.hits == 3 * Xd.shape[0] - 6
    ev(X)  # a later batch: all cached
    assert server.total() == 6


def test_error_line_never_overrides_a_cached_answer(tmp_path):
    path = tmp_path / "c.jsonl"
    c = EvalCache(path)
    c.put("k", {"status": "ok", "fail": 0.0})
    c.put("k", {"status": "error", "error": "http_500"})
    assert c.get("k")["fail"] == 0.0
    with open(path, "a") as f:  # another process appended an error later
        f.write(json.dumps({"key": "k", "status": "error", "error": "timeout"}) + "\n")
    assert EvalCache(path).get("k")["fail"] == 0.0
    assert len(EvalCache(path)) == 1


@pytest.mark.parametrize("change", [dict(temperature=0.5), dict(system_prompt="Answer."),
                                    dict(max_tokens=64), dict(score="logprob"),
                                    dict(model="other"), dict(base_url="other")])
def test_cache_key_covers_every_setting(space, server, tmp_path, change):
    X = _inputs(space, 2)
    base = dict(concurrency=2, timeout=2.0, max_retries=0, backoff=0.0, cache_dir=tmp_path)
    OpenAIEvaluator(space, server.url, "m", **base)(X)
    assert server.total() == 2
    model = change.pop("model", "m")
    url = server.url.replace("127.0.0.1", "localhost") if change.pop("base_url", None) else server.url
    OpenAIEvaluator(space, url, model, **base, **change)(X)
    assert server.total() == 4  # a different setting is never answered from the cache


def test_samples_k_fraction_and_cost(space, server, tmp_path):
    X = _inputs(space, 1)
    q = space.render(X[0])
    server.script = {q: [f"#### {space.answers(X)[0]:.0f}", "#### -1", "#### -1", "#### -1"]}
    ev = _ev(space, server, tmp_path, score="samples:4", temperature=0.7, concurrency=1)
    assert ev(X).tolist() == [0.75] and ev.cost_per_input == 4 and server.total() == 4
    with pytest.raises(ValueError, match="temperature 0 pays 4 times"):
        _ev(space, server, tmp_path, score="samples:4")


def test_logprob_score_is_one_minus_answer_probability(space, server, tmp_path):
    X = _inputs(space, 5)
    ev = _ev(space, server, tmp_path, score="logprob")
    got = ev(X)
    # independent of the parser: the fake server gives the answer token " <a>" the
    # log-probability -0.1 * (number of characters of <a>)
    want = [1.0 - math.exp(-0.1 * len(str(int(a)))) for a in space.answers(X)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert server.total() == 5 and server.paths["/v1/completions"] == 5
    assert ev.cost_per_input == 1 and ev(X).tolist() == got.tolist() and server.total() == 5


@pytest.mark.parametrize("mode", ["null", "generated"])
def test_logprob_unsupported_server_fails_in_one_line_after_one_call(space, tmp_path, mode):
    s = FakeOpenAIServer(logprobs_mode=mode)
    try:
        ev = _ev(space, s, tmp_path, score="logprob")
        with pytest.raises(EvaluationError, match="returned no prompt log-probabilities") as e:
            ev(_inputs(space, 8))
        assert s.total() == 1 and "\n" not in str(e.value) and "vLLM supports it" in str(e.value)
    finally:
        s.close()


def test_logprob_nan_is_an_error_not_a_pass(space, tmp_path):
    s = FakeOpenAIServer(logprobs_mode="nan")
    try:
        with pytest.raises(EvaluationError, match="malformed_logprobs"):
            _ev(space, s, tmp_path, score="logprob")(_inputs(space, 3))
        assert EvalCache(tmp_path / "evaluations.jsonl").__len__() == 0
    finally:
        s.close()


def test_argument_checks(space):
    with pytest.raises(ValueError, match="base_url must be an http"):
        OpenAIEvaluator(space, "localhost:8000", "m")
    with pytest.raises(ValueError, match="concurrency must be a positive int"):
        OpenAIEvaluator(space, "http://x/v1", "m", concurrency=0)
    with pytest.raises(ValueError, match="model must be a non-empty string"):
        OpenAIEvaluator(space, "http://x/v1", "")
    with pytest.raises(ValueError, match="score must be 'binary', 'logprob' or 'samples:K'"):
        OpenAIEvaluator(space, "http://x/v1", "m", score="samples:1")
    with pytest.raises(ValueError, match="max_retries must be an int >= 0"):
        OpenAIEvaluator(space, "http://x/v1", "m", max_retries=-1)


def test_interrupt_cancels_queued_requests_and_resume_pays_nothing_twice(space, server, tmp_path):
    X = _inputs(space, 40)
    server.delay = 0.1
    ev = _ev(space, server, tmp_path, concurrency=2)
    # Ctrl-C while the batch is running: raised when the 5th request arrives (not on a
    # timer, which a slow first compilation could outlast), with Python's own SIGINT
    # handler in place (an earlier test or plugin may have replaced it).
    server.on_arrival = lambda n: n == 5 and _thread.interrupt_main()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            ev(X)
    finally:
        signal.signal(signal.SIGINT, previous)
        server.on_arrival = None
    t_int = time.monotonic()
    sent = server.total()
    assert 0 < sent < 20  # the queue was dropped: 40 inputs would take 2 s
    time.sleep(0.4)
    assert server.total() == sent and max(server.arrivals) < t_int
    # requests on the wire when Ctrl-C came were paid for: they are in the cache
    assert len(EvalCache(tmp_path / "evaluations.jsonl")) == sent
    server.delay = 0.0
    assert ev(X).tolist() == [1.0] * 40  # the same evaluator resumes
    assert server.total() == 40 and max(server.count.values()) == 1


def test_answer_logprob_token_spans_by_hand():
    from jaxcert.rare.scoring import MalformedReply, answer_logprob, teacher_forcing_prompt

    text, start = teacher_forcing_prompt("Sys.", "Q?", 12.5)
    assert text.endswith("#### 12.5") and text[start:] == " 12.5"
    # tokens: "...####" | " 1" | "2." | "5" | " extra" (generated after the prompt: ignored)
    head = text[:start]
    lp = {"tokens": [head, " 1", "2.", "5", " extra"], "token_logprobs": [None, -0.5, -0.25, -1.0, -9.0],
          "text_offset": [0, start, start + 2, start + 4, len(text)]}
    assert answer_logprob({"choices": [{"logprobs": lp}]}, text, start) == -1.75
    # a token straddling the boundary ("#### 1") counts: it can only lower P(answer)
    lp2 = {"tokens": [head[:-4], "#### 1", "2.5"], "token_logprobs": [None, -2.0, -0.5],
           "text_offset": [0, start - 4, start + 2]}
    assert answer_logprob({"choices": [{"logprobs": lp2}]}, text, start) == -2.5
    for bad in ({"choices": [{"logprobs": None}]}, {"choices": []},
                {"choices": [{"logprobs": dict(lp, token_logprobs=[None, 0.5, -1, -1, -1])}]},
                {"choices": [{"logprobs": dict(lp, tokens=lp["tokens"][:1],
                                               token_logprobs=[None], text_offset=[0])}]}):
        with pytest.raises(MalformedReply):
            answer_logprob(bad, text, start)
