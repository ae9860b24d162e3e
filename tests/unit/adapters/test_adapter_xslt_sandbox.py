"""The XSLT sandbox: stylesheets cannot read, write or connect, and bad output is refused."""

from __future__ import annotations

import errno
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from adapter_test_helpers import stylesheet, xslt_manifest
from lxml import etree

from exchange.adapters import AdapterConfigError, AdapterRegistry, XsltAdapter
from exchange.envelope import Envelope
from exchange.errors import TranslationError

DOC = etree.ElementTree(etree.fromstring(b"<in><v>1</v></in>"))
ENVELOPE = Envelope.new(sender="s", message_type="a.In")


def load(write_adapter, adapters_dir: Path, body: str) -> XsltAdapter:
    write_adapter("t", xslt_manifest("t"), {"t.xsl": stylesheet(body)})
    adapter = AdapterRegistry.load(adapters_dir, entry_points=False).get("t")
    assert isinstance(adapter, XsltAdapter)
    return adapter


def copy_document(uri: str) -> str:
    select = f"document('{uri}')"
    return f'<xsl:template match="/"><out><xsl:copy-of select="{select}"/></out></xsl:template>'


@pytest.fixture
def watched_fifo(tmp_path: Path) -> Iterator[tuple[Path, list[bool]]]:
    """A named pipe that records whether anyone opened it for reading.

    Opening a FIFO for writing without blocking fails (ENXIO) while nobody
    reads it, so a watcher that keeps trying learns of any read attempt; when it
    succeeds it closes at once, which gives the reader end-of-file.
    """
    fifo = tmp_path / "secret"
    os.mkfifo(fifo)
    opened: list[bool] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.001):
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    raise
                continue
            opened.append(True)
            os.close(fd)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield fifo, opened
    finally:
        stop.set()
        watcher.join()


@pytest.mark.parametrize("uri", ["/etc/hostname", "file:///etc/hostname", "secret.xml"])
def test_document_function_cannot_read_files(write_adapter, adapters_dir: Path, uri: str) -> None:
    adapter = load(write_adapter, adapters_dir, copy_document(uri))
    (adapters_dir / "t" / "secret.xml").write_text("<secret>s3cr3t</secret>", encoding="utf-8")

    with pytest.raises(TranslationError) as caught:
        adapter.translate(DOC, ENVELOPE)

    assert "read rights for" in str(caught.value) and "denied" in str(caught.value)
    assert "adapter 't'" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


def test_denied_file_is_never_opened(
    write_adapter, adapters_dir: Path, watched_fifo: tuple[Path, list[bool]]
) -> None:
    fifo, opened = watched_fifo
    adapter = load(write_adapter, adapters_dir, copy_document(str(fifo)))

    with pytest.raises(TranslationError):
        adapter.translate(DOC, ENVELOPE)

    assert opened == []


def test_document_function_cannot_reach_the_network(write_adapter, adapters_dir: Path) -> None:
    adapter = load(write_adapter, adapters_dir, copy_document("http://127.0.0.1:9/x"))

    with pytest.raises(TranslationError, match=r"read rights for http://127.0.0.1:9/x denied"):
        adapter.translate(DOC, ENVELOPE)


def test_denied_url_is_never_connected_to(write_adapter, adapters_dir: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        port = server.getsockname()[1]
        adapter = load(write_adapter, adapters_dir, copy_document(f"http://127.0.0.1:{port}/x"))

        with pytest.raises(TranslationError):
            adapter.translate(DOC, ENVELOPE)

        with pytest.raises(BlockingIOError):
            server.accept()


def test_stylesheet_with_doctype_is_refused_at_load(write_adapter, adapters_dir: Path) -> None:
    text = (
        '<?xml version="1.0"?>\n<!DOCTYPE xsl:stylesheet [<!ENTITY x SYSTEM "/etc/hostname">]>\n'
        + stylesheet('<xsl:template match="/"><out>&x;</out></xsl:template>')
    )
    folder = write_adapter("t", xslt_manifest("t"), {"t.xsl": text})

    with pytest.raises(AdapterConfigError) as caught:
        AdapterRegistry.load(adapters_dir, entry_points=False)

    assert str(caught.value) == (
        f"{folder / 't.xsl'}: DOCTYPE and ENTITY declarations are refused; remove them"
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('<xsl:include href="other.xsl"/>', "xsl:include is refused"),
        ('<xsl:import href="other.xsl"/>', "xsl:import is refused"),
        (
            '<xsl:template match="/" xmlns:exsl="http://exslt.org/common">'
            '<exsl:document href="/tmp/out.xml" xsl:extension-element-prefixes="exsl"><o/>'
            "</exsl:document><out/></xsl:template>",
            "extension elements are refused",
        ),
        (
            '<xsl:template match="/"><xsl:document href="/tmp/out.xml"><o/></xsl:document>'
            "</xsl:template>",
            "xsl:document is refused",
        ),
    ],
)
def test_imports_and_writers_are_refused_at_load(
    write_adapter, adapters_dir: Path, body: str, reason: str
) -> None:
    write_adapter(
        "t",
        xslt_manifest("t"),
        {"t.xsl": stylesheet(body), "other.xsl": stylesheet("")},
    )

    with pytest.raises(AdapterConfigError) as caught:
        AdapterRegistry.load(adapters_dir, entry_points=False)

    assert "t.xsl:" in str(caught.value)
    assert reason in str(caught.value)


def test_exslt_functions_still_work(write_adapter, adapters_dir: Path) -> None:
    adapter = load(
        write_adapter,
        adapters_dir,
        '<xsl:template match="/" xmlns:str="http://exslt.org/strings">'
        "<out><xsl:value-of select=\"str:padding(3, '-')\"/></out></xsl:template>",
    )

    assert adapter.translate(DOC, ENVELOPE).getroot().text == "---"


def test_terminating_message_becomes_a_translation_error(write_adapter, adapters_dir: Path) -> None:
    adapter = load(
        write_adapter,
        adapters_dir,
        '<xsl:template match="/"><xsl:message terminate="yes">missing <xsl:value-of '
        'select="name(/*)"/>/CreditCode</xsl:message></xsl:template>',
    )

    with pytest.raises(TranslationError) as caught:
        adapter.translate(DOC, ENVELOPE)

    assert "stylesheet t.xsl stopped: missing in/CreditCode" in str(caught.value)
    assert [p.message for p in caught.value.problems] == ["missing in/CreditCode"]


def test_runtime_error_becomes_a_translation_error(write_adapter, adapters_dir: Path) -> None:
    adapter = load(
        write_adapter,
        adapters_dir,
        '<xsl:template match="/"><out><xsl:value-of select="nope:f()" xmlns:nope="urn:x"/>'
        "</out></xsl:template>",
    )

    with pytest.raises(TranslationError, match="Unregistered function"):
        adapter.translate(DOC, ENVELOPE)


@pytest.mark.parametrize(
    "body",
    [
        '<xsl:output method="text"/><xsl:template match="/">just text</xsl:template>',
        '<xsl:template match="/"/>',
        '<xsl:template match="/"><a/><b/></xsl:template>',
        '<xsl:template match="/">loose text<a/></xsl:template>',
    ],
)
def test_result_must_be_one_rooted_document(write_adapter, adapters_dir: Path, body: str) -> None:
    adapter = load(write_adapter, adapters_dir, body)

    with pytest.raises(TranslationError, match=r"adapter 't': stylesheet t.xsl produced"):
        adapter.translate(DOC, ENVELOPE)


def test_comments_beside_the_root_are_fine(write_adapter, adapters_dir: Path) -> None:
    adapter = load(
        write_adapter,
        adapters_dir,
        '<xsl:template match="/"><xsl:comment>made by t</xsl:comment><out/></xsl:template>',
    )

    assert adapter.translate(DOC, ENVELOPE).getroot().tag == "out"


def test_stylesheet_that_does_not_compile_names_the_file_and_line(
    write_adapter, adapters_dir: Path
) -> None:
    write_adapter(
        "t",
        xslt_manifest("t"),
        {
            "t.xsl": stylesheet(
                '<xsl:template match="/"><out><xsl:value-of select="(("/></out></xsl:template>'
            )
        },
    )

    with pytest.raises(AdapterConfigError) as caught:
        AdapterRegistry.load(adapters_dir, entry_points=False)

    message = str(caught.value)
    assert "t.xsl: the stylesheet does not compile:" in message
    assert "line 2: compilation error, element 'value-of'" in message
