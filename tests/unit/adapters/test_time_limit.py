"""The time limit per adapter call: runaway Python and XSLT adapters are stopped or given up."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from adapter_test_helpers import stylesheet
from lxml import etree

from exchange.adapters import translate_chain
from exchange.adapters.base import Adapter, AdapterSpec, PythonAdapter
from exchange.adapters.time_limit import Finished, Runaway, Translator, Watch
from exchange.adapters.xslt import XsltAdapter
from exchange.envelope import Envelope
from exchange.errors import ConfigError, TranslationError

# 2^DEPTH calls of one template, well within libxslt's depth limit: about 3 s at
# DEPTH 22 on a 2026 laptop core, so an abandoned transform soon ends by itself.
DEPTH = 22
EXPONENTIAL = stylesheet(
    f"""<xsl:template match="/"><out><xsl:call-template name="f">
  <xsl:with-param name="n" select="{DEPTH}"/></xsl:call-template></out></xsl:template>
<xsl:template name="f"><xsl:param name="n"/><xsl:if test="$n &gt; 0">
  <xsl:call-template name="f"><xsl:with-param name="n" select="$n - 1"/></xsl:call-template>
  <xsl:call-template name="f"><xsl:with-param name="n" select="$n - 1"/></xsl:call-template>
</xsl:if></xsl:template>"""
)
COPY = stylesheet('<xsl:template match="/"><out><xsl:value-of select="."/></out></xsl:template>')


def spec(name: str, kind: str = "python", time_limit: float | None = None) -> AdapterSpec:
    return AdapterSpec(
        name=name, version="1.0", kind=kind, source="a.In", target="b.Out", time_limit=time_limit
    )


class Spin(PythonAdapter):
    def translate(self, document: etree._ElementTree, envelope: Envelope) -> etree._ElementTree:
        while True:
            pass


class SpinSwallowing(PythonAdapter):
    """Catches every Exception, as careless adapters do."""

    def translate(self, document: etree._ElementTree, envelope: Envelope) -> etree._ElementTree:
        while True:
            try:
                while True:
                    pass
            except Exception:  # the point of this adapter
                continue


class Sleep(PythonAdapter):
    """Sits in native code (time.sleep), where no exception reaches it."""

    def translate(self, document: etree._ElementTree, envelope: Envelope) -> etree._ElementTree:
        time.sleep(2.5)
        return etree.ElementTree(etree.Element("late"))


class Fast(PythonAdapter):
    def translate(self, document: etree._ElementTree, envelope: Envelope) -> etree._ElementTree:
        return etree.ElementTree(etree.Element("out"))


@pytest.fixture
def document() -> etree._ElementTree:
    return etree.ElementTree(etree.fromstring(b"<in>hello</in>"))


@pytest.fixture
def envelope() -> Envelope:
    return Envelope.new(sender="a.sender", message_type="a.In", message_id="m-1")


def xslt(tmp_path: Path, name: str, text: str, time_limit: float | None) -> XsltAdapter:
    path = tmp_path / f"{name}.xsl"
    path.write_text(text, encoding="utf-8")
    return XsltAdapter(spec(name, "xslt", time_limit), path)


def translating(
    adapter: Adapter, document: etree._ElementTree, envelope: Envelope
) -> tuple[object, float]:
    """The work the router hands the translator, reduced to one chain: result or error."""

    def work(watch: Watch) -> etree._ElementTree | TranslationError:
        try:
            return translate_chain([adapter], document, envelope, None, watch)
        except TranslationError as exc:
            return exc

    return work, time.monotonic()  # type: ignore[return-value]


async def test_a_python_loop_is_stopped_at_its_limit_with_a_translation_error(
    document: etree._ElementTree, envelope: Envelope
) -> None:
    translator = Translator(default_s=10)
    work, started = translating(Spin(spec("spin", time_limit=0.3)), document, envelope)
    outcome = await translator.run(work)  # type: ignore[arg-type]
    elapsed = time.monotonic() - started
    assert isinstance(outcome, Finished)
    error = outcome.value
    assert isinstance(error, TranslationError)
    assert "adapter 'spin' exceeded its time limit of 0.3 s" in error.detail
    assert "raise time_limit in adapter.yaml" in error.detail
    assert 0.3 <= elapsed < 1.0
    assert translator.abandoned_threads == 0  # interrupted, not given up
    translator.close()


async def test_the_hub_default_applies_without_time_limit_and_except_exception_does_not_hide_it(
    document: etree._ElementTree, envelope: Envelope
) -> None:
    translator = Translator(default_s=0.2)
    work, started = translating(SpinSwallowing(spec("careless")), document, envelope)
    outcome = await translator.run(work)  # type: ignore[arg-type]
    assert isinstance(outcome, Finished)
    assert isinstance(outcome.value, TranslationError)
    assert "adapter 'careless' exceeded its time limit of 0.2 s" in outcome.value.detail
    assert time.monotonic() - started < 1.0
    translator.close()


async def test_an_exponential_stylesheet_is_given_up_within_a_second(
    tmp_path: Path, document: etree._ElementTree, envelope: Envelope
) -> None:
    translator = Translator()
    adapter = xslt(tmp_path, "exponential", EXPONENTIAL, time_limit=0.5)
    work, started = translating(adapter, document, envelope)
    outcome = await translator.run(work, position=7)  # type: ignore[arg-type]
    elapsed = time.monotonic() - started
    assert outcome == Runaway(adapter="exponential", limit_s=0.5, position=7)
    assert 0.5 <= elapsed < 1.0
    assert translator.abandoned_threads == 1
    # The next work runs on a fresh thread, at once, while the abandoned one still transforms.
    fast = xslt(tmp_path, "copy", COPY, time_limit=None)
    work, started = translating(fast, document, envelope)
    again = await translator.run(work)  # type: ignore[arg-type]
    assert isinstance(again, Finished)
    assert isinstance(again.value, etree._ElementTree)
    assert again.value.getroot().text == "hello"
    assert time.monotonic() - started < 0.5
    translator.close()


async def test_native_code_in_a_python_adapter_is_given_up_after_the_grace(
    document: etree._ElementTree, envelope: Envelope
) -> None:
    translator = Translator()
    work, started = translating(Sleep(spec("sleepy", time_limit=0.2)), document, envelope)
    outcome = await translator.run(work)  # type: ignore[arg-type]
    assert outcome == Runaway(adapter="sleepy", limit_s=0.2, position=0)
    assert 0.7 <= time.monotonic() - started < 1.5  # the limit, then GRACE_S
    translator.close()


async def test_a_given_up_adapter_fails_at_once_for_that_message_and_others_still_run(
    document: etree._ElementTree, envelope: Envelope
) -> None:
    spin, fast = Spin(spec("spin", time_limit=5)), Fast(spec("fast"))

    def work(watch: Watch) -> list[str]:
        watch.given_up = {"spin"}
        results = []
        for adapter in (spin, fast):
            try:
                tree = translate_chain([adapter], document, envelope, None, watch)
                results.append(str(tree.getroot().tag))
            except TranslationError as exc:
                results.append(exc.detail)
        return results

    translator = Translator()
    started = time.monotonic()
    outcome = await translator.run(work)
    assert isinstance(outcome, Finished)
    assert outcome.value[0].startswith("adapter 'spin' exceeded its time limit of 5 s")
    assert outcome.value[1] == "out"
    assert time.monotonic() - started < 0.5
    translator.close()


async def test_a_fast_adapter_is_unaffected_and_runs_off_the_event_loop_thread(
    tmp_path: Path, document: etree._ElementTree, envelope: Envelope
) -> None:
    adapter = xslt(tmp_path, "copy", COPY, time_limit=0.05)
    threads: set[str] = set()

    def work(watch: Watch) -> list[bytes]:
        threads.add(threading.current_thread().name)
        return [
            etree.tostring(translate_chain([adapter], document, envelope, None, watch))
            for _ in range(200)
        ]

    translator = Translator()
    outcome = await translator.run(work)
    assert isinstance(outcome, Finished)
    assert outcome.value == [b"<out>hello</out>"] * 200
    assert threads == {"translator"}
    assert translator.abandoned_threads == 0
    translator.close()


def test_a_time_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        Translator(default_s=0)


def test_the_router_takes_the_hubs_default_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from exchange.pipeline.router import Router
    from exchange.settings import load_settings

    monkeypatch.setenv("EXCHANGE_HOME", str(tmp_path))
    monkeypatch.setenv("EXCHANGE_ADAPTER_TIME_LIMIT_S", "2.5")
    router = Router(backbone=None, rules=lambda: None, exit_on_runaway=False)  # type: ignore[arg-type]
    assert router._translator.default_s == 2.5
    assert Router(None, lambda: None, time_limit_s=0.1)._translator.default_s == 0.1  # type: ignore[arg-type]
    monkeypatch.setenv("EXCHANGE_ADAPTER_TIME_LIMIT_S", "0")
    with pytest.raises(ConfigError, match="EXCHANGE_ADAPTER_TIME_LIMIT_S"):
        load_settings()
