"""Images and files that articles, guides and pages point to, and links between documents.

Marketers (and sites imported from Jekyll or Hugo) write ``![plano](img/plano.png)``
next to the article, ``/images/plano.png`` from the site root, or Hugo's
``static/images/plano.png``, and link other pieces as ``[otra](otro-articulo.md)``.
At load time every such reference is resolved against the content folder:

- a file found there is served at ``/media/<its path>?v=<hash of its bytes>`` (the
  hash lets browsers keep it for a year and changes when the file does); only files
  that published documents or emails refer to are served, nothing else in the folder;
- a link to another Markdown file becomes that document's address;
- a reference that looks like a local file but is not there is a warning in
  ``cabos check`` naming the document, the reference and where it was looked for.

Addresses with a scheme (``https:``, ``mailto:``, ``data:``), protocol-relative ones,
fragments and site routes (``/precios``) are left as written.
"""

from __future__ import annotations

import hashlib
import html
import os
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from cabos.content.model import Embeds, Issue

MEDIA_PREFIX = "/media/"

# What the site serves from the content folder: images, video, audio and documents.
# Markdown, YAML and anything else (scripts, HTML) stay private.
MEDIA_TYPES = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
    ".webp": "image/webp", ".avif": "image/avif", ".svg": "image/svg+xml", ".ico": "image/x-icon",
    ".mp4": "video/mp4", ".webm": "video/webm", ".mp3": "audio/mpeg", ".pdf": "application/pdf",
}
MAX_BYTES = 50 * 1024 * 1024  # a larger file is not media a page should carry; it is skipped with a warning


LINK_OUT = ("is a symbolic link to something outside the content folder; it is never served or read "
            "(it could publish any file the site can read): copy the file into the folder instead")


def leaves(real_root: Path, path: Path) -> bool:
    """Whether ``path`` is (or passes through) a symbolic link that ends outside ``real_root``
    (the content folder, already resolved). A link inside the folder to another file inside it is fine."""
    return not Path(os.path.realpath(path)).is_relative_to(real_root)


@dataclass(frozen=True)
class MediaFile:
    rel: str  # path inside the content folder, with "/"
    path: Path
    version: str  # first hex digits of the SHA-256 of the bytes
    mimetype: str
    size: int

    @property
    def url(self) -> str:
        return f"{MEDIA_PREFIX}{quote(self.rel)}?v={self.version}"


class MediaScanner:
    """Finds the media files of a content folder; re-hashes only files whose mtime or size changed."""

    def __init__(self) -> None:
        self._hashes: dict[str, tuple[tuple[int, int], str]] = {}

    def scan(self, root: Path) -> tuple[dict[str, MediaFile], list[Issue]]:
        files: dict[str, MediaFile] = {}
        issues: list[Issue] = []
        real_root = Path(os.path.realpath(root))
        for dirpath, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in dirs + sorted(names):
                path = Path(dirpath) / name
                if leaves(real_root, path):
                    issues.append(Issue("error", path.relative_to(root).as_posix(), LINK_OUT))
            for name in sorted(names):
                mimetype = MEDIA_TYPES.get(os.path.splitext(name)[1].lower())
                if mimetype is None or name.startswith("."):
                    continue
                path = Path(dirpath) / name
                rel = path.relative_to(root).as_posix()
                if leaves(real_root, path):
                    continue
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                if st.st_size > MAX_BYTES:
                    issues.append(Issue("warning", rel, f"is {st.st_size // 1048576} MB, over the "
                                        f"{MAX_BYTES // 1048576} MB the site serves from the content folder; "
                                        "host it elsewhere and link to it"))
                    continue
                stamp = (st.st_mtime_ns, st.st_size)
                known = self._hashes.get(rel)
                if known is not None and known[0] == stamp:
                    version = known[1]
                else:
                    with path.open("rb") as fh:  # up to MAX_BYTES: stream it, never hold it all
                        version = hashlib.file_digest(fh, "sha256").hexdigest()[:12]
                    self._hashes[rel] = (stamp, version)
                files[rel] = MediaFile(rel, path, version, mimetype, st.st_size)
        for rel in set(self._hashes) - set(files):
            del self._hashes[rel]
        return files, issues


_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
# Attributes in rendered HTML: markdown-it writes them double-quoted and escapes quotes in text,
# so a match is a real attribute (raw HTML blocks may use single quotes).
_ATTRIBUTE = re.compile(r"""(\s(?:src|href|poster)=)(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_SRCSET = re.compile(r"""(\ssrcset=)(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)


def _local(source: str, target: str) -> list[str]:
    """Where a reference written in ``source`` may point inside the content folder, in order."""
    if target.startswith("/"):
        inside = posixpath.normpath(target.lstrip("/"))
        candidates = [inside, f"static/{inside}"]  # Jekyll keeps files at the root, Hugo under static/
    else:
        folder = posixpath.dirname(source)
        candidates = [posixpath.normpath(posixpath.join(folder, target)), posixpath.normpath(target)]
    return [c for c in dict.fromkeys(candidates) if c != "." and not c.startswith("../") and c != ".."]


class References:
    """Rewrites the references of one library's documents; collects what it could not find."""

    def __init__(self, media: Mapping[str, MediaFile], documents: Mapping[str, str],
                 drafts: frozenset[str] = frozenset()) -> None:
        self.media = media
        self.documents = documents  # source path ("articles/x.md") -> the document's address
        self.drafts = drafts  # sources of drafts: a link to one is broken until it is published
        names: dict[str, list[str]] = {}
        for source in documents:
            names.setdefault(posixpath.basename(source), []).append(source)
        # A blog moved into cabos keeps links written for its old folders (Jekyll's _posts/,
        # Hugo's posts/): a file name only one document has is that document.
        self.by_name = {name: sources[0] for name, sources in names.items() if len(sources) == 1}
        self.used: set[str] = set()  # media that published documents and emails refer to: all the site serves
        self.withheld: set[str] = set()  # media only drafts and scheduled pieces refer to: previews only

    def resolve(self, source: str, reference: str, publish: bool = True) -> tuple[str | None, str | None]:
        """(new address or None to keep it, or a warning) for one reference written in ``source``.

        ``publish``: the reference is on something people receive (not a draft), so the file it
        finds is served. A file nothing published refers to stays private: a designer's PDF of a
        gated guide left in the folder must not be downloadable without the form.
        """
        ref = reference.strip()
        if not ref or ref.startswith(("#", "//")) or _SCHEME.match(ref) or ref.startswith(MEDIA_PREFIX):
            return None, None
        path, fragment = (ref.split("#", 1) + [""])[:2]
        path = path.split("?", 1)[0]
        fragment = f"#{fragment}" if fragment else ""
        target = unquote(path)
        candidates = _local(source, target)
        if target.lower().endswith(".md"):
            unique = self.by_name.get(posixpath.basename(target))
            for candidate in candidates + ([unique] if unique else []):
                if candidate in self.drafts:
                    return (self.documents[candidate] + fragment,
                            f"links to {candidate}, a draft: the link is broken until it is published")
                if candidate in self.documents:
                    return self.documents[candidate] + fragment, None
            return None, f"links to {reference!r}, which is not an article, guide or page in the content folder"
        for candidate in candidates:
            found = self.media.get(candidate)
            if found is not None:
                (self.used if publish else self.withheld).add(candidate)
                return found.url + fragment, None
        if os.path.splitext(target)[1].lower() in MEDIA_TYPES:
            if not candidates:
                return None, f"refers to {reference!r}, which points outside the content folder"
            return None, (f"refers to {reference!r}, which is not in the content folder "
                          f"(looked for {' or '.join(candidates)})")
        return None, None  # a site route such as /precios, or a folder

    def rewrite(self, source: str, text: str, warn: Callable[[str], None], publish: bool = True) -> str:
        """The document's HTML with every resolvable reference rewritten."""

        def one(m: re.Match[str]) -> str:
            quoted = m.group(2) if m.group(2) is not None else m.group(3)
            address, problem = self.resolve(source, html.unescape(quoted), publish)
            if problem:
                warn(problem)
            if address is None:
                return m.group(0)
            return f'{m.group(1)}"{html.escape(address, quote=True)}"'

        def each(m: re.Match[str]) -> str:  # srcset: "a.png 1x, a@2x.png 2x" (WordPress writes them)
            quoted = m.group(2) if m.group(2) is not None else m.group(3)
            candidates = []
            for candidate in html.unescape(quoted).split(","):
                url, _, size = candidate.strip().partition(" ")
                address, problem = self.resolve(source, url, publish)
                if problem:
                    warn(problem)
                candidates.append(f"{address or url} {size.strip()}".strip())
            return f'{m.group(1)}"{html.escape(", ".join(candidates), quote=True)}"'

        return _SRCSET.sub(each, _ATTRIBUTE.sub(one, text))


# Tags that load something from elsewhere, and the embeds list (site.yml) that allows their origin.
_LOADING_TAG = re.compile(r"<(img|iframe|video|audio|source|embed|object|script)\b([^>]*)>", re.IGNORECASE)
_SRC = re.compile(r"""\ssrc=(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_ORIGIN = re.compile(r"^(https?:)?//([^/?#]+)", re.IGNORECASE)
_LIST = {"img": "images", "iframe": "frames", "video": "media", "audio": "media", "source": "media"}


def _host(address: str) -> str:
    """The host of an absolute or protocol-relative address, lowercased; "" for a local one."""
    m = _ORIGIN.match(address)
    return m.group(2).lower() if m else ""


def _allowed(origin: str, allowed: tuple[str, ...]) -> bool:
    host = origin.split("//", 1)[1]
    for entry in allowed:
        permitted = entry.split("//", 1)[1]
        if host == permitted or (permitted.startswith("*.") and host.endswith(permitted[1:])):
            return origin.startswith("https:")
    return False


def blocked(text: str, embeds: Embeds, in_pdf: bool, own: str = "") -> list[str]:
    """What the page would silently lose: each thing its Content-Security-Policy (or the offline PDF) refuses.

    ``own`` is the site's base URL: an absolute address on the site itself is its own ('self').
    """
    problems: list[str] = []
    own_host = _host(own)
    for m in _LOADING_TAG.finditer(text):
        tag = m.group(1).lower()
        if tag == "script":
            problems.append("has a <script>, which never runs: the site runs only its own scripts")
            continue
        if tag in ("embed", "object"):
            problems.append(f"has an <{tag}>, which browsers never load here (plugins are off); "
                            "use an <iframe> from a site listed in embeds.frames")
            continue
        src = _SRC.search(m.group(2))
        address = html.unescape(src.group(1) if src.group(1) is not None else src.group(2)) if src else ""
        origin = _ORIGIN.match(address)
        if origin is None or _host(address) == own_host:
            continue  # our own ('self'; CSP also lets an http site load its own https addresses)
        where = f"{(origin.group(1) or 'https:').lower()}//{_host(address)}"
        key = _LIST[tag]
        if not _allowed(where, getattr(embeds, key)):
            fix = f"add {where} to embeds.{key} in site.yml" if where.startswith("https:") else \
                "use its https address, listed in embeds." + key + " in site.yml"
            if key != "frames":
                fix = "copy the file into the content folder, or " + fix
            problems.append(f"shows {address[:100]!r} from {where}, which the site's Content-Security-Policy "
                            f"blocks: {fix}")
        elif in_pdf:
            problems.append(f"shows {address[:100]!r} from {where}: it is on the page but not in the PDF "
                            "(PDFs are made offline, from the content folder)")
    return problems


_FRAME_SRC = re.compile(r"""(<iframe\b[^>]*?\s)src=("(?:https?:)?//[^"]*"|'(?:https?:)?//[^']*')""", re.IGNORECASE)


def defer_frames(text: str, own: str = "") -> str:
    """Frames from other sites wait for a click: ``src`` becomes ``data-embed-src``.

    A YouTube or Vimeo player sees the reader's address and may set cookies the moment it
    loads; the site's embeds.js shows a button naming the site instead, and loads the frame
    when the reader asks for it.
    """
    own_host = _host(own)

    def one(m: re.Match[str]) -> str:
        if _host(html.unescape(m.group(2)[1:-1])) == own_host:
            return m.group(0)
        return f"{m.group(1)}data-embed-src={m.group(2)}"

    return _FRAME_SRC.sub(one, text)
