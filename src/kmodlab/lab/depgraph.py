"""Which module uses which symbol from which other module, as data and as an SVG.

The facts come from the .ko files themselves: a provider's EXPORT_SYMBOL leaves
a `__ksymtab_<name>` symbol (in section __ksymtab or __ksymtab_gpl), and a
consumer's calls into another module are its undefined symbols. Matching the
two gives the edges modpost resolved at build time; depmod's modules.dep from
the guest says the same thing from the kernel side, so both are shown.

Reading ELF is the only I/O here (symbol_table); the graph, the modules.dep
parser and the SVG are pure so they are tested on captured data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

KSYMTAB_PREFIX = "__ksymtab_"
KERNEL = "vmlinux"  # the node that stands for every symbol no given module exports


@dataclass(frozen=True)
class SymbolTable:
    """What one module exports (symbol -> export type) and what it needs from others."""

    module: str
    exports: dict[str, str]  # symbol -> "EXPORT_SYMBOL" | "EXPORT_SYMBOL_GPL"
    imports: frozenset[str]  # undefined symbols: resolved by the kernel or other modules


@dataclass(frozen=True)
class Edge:
    consumer: str
    provider: str  # a module name, or KERNEL
    symbols: tuple[str, ...]
    in_modules_dep: bool | None = None  # None: modules.dep was not read


@dataclass
class DepGraph:
    modules: list[str]
    edges: list[Edge] = field(default_factory=list)
    # depmod's view (consumer -> providers), when read from the guest.
    modules_dep: dict[str, list[str]] | None = None

    def providers_of(self, module: str) -> list[str]:
        return [e.provider for e in self.edges if e.consumer == module and e.provider != KERNEL]

    def text(self) -> str:
        """One line per module edge, e.g. `consumer -> provider: provider_value`."""
        lines = []
        for e in self.edges:
            if e.provider == KERNEL:
                lines.append(f"{e.consumer} -> {KERNEL}: {len(e.symbols)} kernel symbols")
                continue
            mark = {True: " (modules.dep agrees)", False: " (missing from modules.dep)"}
            lines.append(
                f"{e.consumer} -> {e.provider}: {', '.join(e.symbols)}"
                f"{mark.get(e.in_modules_dep, '') if e.in_modules_dep is not None else ''}"
            )
        alone = [
            m for m in self.modules if not any(m in (e.consumer, e.provider) for e in self.edges)
        ]
        lines += [f"{m}: uses no other module" for m in alone]
        return "\n".join(lines) or "no modules"


def _export_types(elf: ELFFile) -> dict[int, str]:
    """Section index -> export type, for the sections holding ksymtab entries."""
    types = {}
    for i, sec in enumerate(elf.iter_sections()):
        if sec.name == "__ksymtab":
            types[i] = "EXPORT_SYMBOL"
        elif sec.name == "__ksymtab_gpl":
            types[i] = "EXPORT_SYMBOL_GPL"
    return types


def symbol_table(ko: Path, module: str | None = None) -> SymbolTable:
    """Exports and undefined symbols of a built module, from its ELF symbol table."""
    with Path(ko).open("rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            return SymbolTable(module or Path(ko).stem, {}, frozenset())
        types = _export_types(elf)
        exports: dict[str, str] = {}
        imports: set[str] = set()
        for sym in symtab.iter_symbols():
            shndx = sym["st_shndx"]
            if sym.name.startswith(KSYMTAB_PREFIX) and isinstance(shndx, int):
                exports[sym.name[len(KSYMTAB_PREFIX) :]] = types.get(shndx, "EXPORT_SYMBOL")
            elif shndx == "SHN_UNDEF" and sym.name and sym["st_info"]["bind"] != "STB_LOCAL":
                imports.add(sym.name)
    return SymbolTable(module or Path(ko).stem, exports, frozenset(imports))


def parse_modules_dep(text: str) -> dict[str, list[str]]:
    """modules.dep (`extra/consumer.ko: extra/provider.ko`) -> {consumer: [provider]}.

    Module names are the file stems; kernel-internal paths keep only the stem
    too, since a student's module can depend on an in-tree one.
    """
    deps: dict[str, list[str]] = {}
    for line in text.splitlines():
        path, sep, rest = line.partition(":")
        if not sep or not path.strip():
            continue
        deps[_stem(path)] = [_stem(p) for p in rest.split()]
    return deps


def _stem(path: str) -> str:
    name = path.strip().rsplit("/", 1)[-1]
    for suffix in (".ko.xz", ".ko.zst", ".ko.gz", ".ko"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def compute_graph(
    tables: Mapping[str, SymbolTable], modules_dep: Mapping[str, list[str]] | None = None
) -> DepGraph:
    """Edges consumer -> provider with the symbols each takes; the rest goes to the kernel."""
    exporter: dict[str, str] = {}
    for name in sorted(tables):
        for sym in tables[name].exports:
            exporter.setdefault(sym, name)
    edges: list[Edge] = []
    for name in sorted(tables):
        by_provider: dict[str, list[str]] = {}
        for sym in sorted(tables[name].imports):
            provider = exporter.get(sym, KERNEL)
            if provider != name:
                by_provider.setdefault(provider, []).append(sym)
        for provider in sorted(by_provider, key=lambda p: (p == KERNEL, p)):
            agrees = None
            if modules_dep is not None and provider != KERNEL:
                agrees = provider in modules_dep.get(name, [])
            edges.append(Edge(name, provider, tuple(by_provider[provider]), agrees))
    deps = {k: list(v) for k, v in modules_dep.items()} if modules_dep is not None else None
    return DepGraph(sorted(tables), edges, deps)


def graph_from_kos(kos: Mapping[str, Path], modules_dep_text: str | None = None) -> DepGraph:
    tables = {name: symbol_table(ko, name) for name, ko in kos.items()}
    deps = parse_modules_dep(modules_dep_text) if modules_dep_text is not None else None
    return compute_graph(tables, deps)


# -- SVG ----------------------------------------------------------------------
_BOX_H, _COL_GAP, _ROW_GAP, _PAD, _CHAR = 34, 150, 26, 16, 7.8


def _layers(graph: DepGraph) -> dict[str, int]:
    """Column per module: providers left of their consumers (longest path from a source)."""
    layer = {m: 0 for m in graph.modules}
    for _ in graph.modules:  # at most n relaxations; a cycle just stops growing
        changed = False
        for e in graph.edges:
            if e.provider in layer and layer[e.consumer] < layer[e.provider] + 1:
                layer[e.consumer] = min(layer[e.provider] + 1, len(graph.modules))
                changed = True
        if not changed:
            break
    return layer


def _positions(graph: DepGraph) -> tuple[dict[str, tuple[float, float, float]], float, float]:
    """(x, y, width) of each module box, and the picture's width and height."""
    layer = _layers(graph)
    columns: dict[int, list[str]] = {}
    for m in graph.modules:
        columns.setdefault(layer[m], []).append(m)
    # Wide enough for the name and the "+N kernel symbols" note under it.
    col_w = {c: max(max(len(m) for m in ms), 20) * _CHAR + 20 for c, ms in columns.items()}
    pos: dict[str, tuple[float, float, float]] = {}
    x = _PAD
    for c in sorted(columns):
        for i, m in enumerate(columns[c]):
            pos[m] = (x, _PAD + 24 + i * (_BOX_H + _ROW_GAP), col_w[c])
        x += col_w[c] + _COL_GAP
    rows = max((len(ms) for ms in columns.values()), default=1)
    height = _PAD * 2 + 24 + rows * (_BOX_H + _ROW_GAP) + 20
    return pos, max(x - _COL_GAP + _PAD, 240), height


def graph_svg(graph: DepGraph) -> str:
    """A self-contained SVG: module boxes, arrows consumer -> provider labelled with symbols.

    Kernel symbols are summarised in each box (a count), not drawn: every
    module uses dozens and the picture is about the student's own modules.
    """
    pos, width, height = _positions(graph)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="monospace" font-size="12" '
        'role="img">',
        "<title>Module symbol graph</title>",
        '<defs><marker id="kmodlab-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#1565c0"/></marker></defs>',
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
        f'<text x="{_PAD}" y="{_PAD + 4}" font-weight="bold">'
        "arrows: consumer → provider, labelled with the symbols it uses</text>",
    ]
    out += _edges_svg(graph, pos)
    out += _boxes_svg(graph, pos)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _edges_svg(graph: DepGraph, pos: Mapping[str, tuple[float, float, float]]) -> list[str]:
    out = []
    for e in graph.edges:
        if e.provider == KERNEL or e.provider not in pos:
            continue
        cx, cy, _cw = pos[e.consumer]
        px, py, pw = pos[e.provider]
        # From the consumer's left edge to the provider's right edge (providers sit left).
        x1, y1, x2, y2 = cx, cy + _BOX_H / 2, px + pw, py + _BOX_H / 2
        colour = "#c62828" if e.in_modules_dep is False else "#1565c0"
        out.append(
            f'<line x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" stroke="{colour}" '
            'stroke-width="1.5" marker-end="url(#kmodlab-arrow)"/>'
        )
        label = ", ".join(e.symbols)
        if e.in_modules_dep is False:
            label += " (not in modules.dep)"
        out.append(
            f'<text x="{(x1 + x2) / 2:.0f}" y="{(y1 + y2) / 2 - 6:.0f}" text-anchor="middle" '
            f'fill="{colour}">{escape(label)}</text>'
        )
    return out


def _boxes_svg(graph: DepGraph, pos: Mapping[str, tuple[float, float, float]]) -> list[str]:
    out = []
    kernel_uses = {e.consumer: len(e.symbols) for e in graph.edges if e.provider == KERNEL}
    for m, (x, y, w) in pos.items():
        out.append(
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{w:.0f}" height="{_BOX_H}" rx="6" '
            'fill="#e3f2fd" stroke="#1565c0"/>'
        )
        out.append(f'<text x="{x + 10:.0f}" y="{y + 15:.0f}" font-weight="bold">{escape(m)}</text>')
        note = f"+{kernel_uses.get(m, 0)} kernel symbols"
        out.append(f'<text x="{x + 10:.0f}" y="{y + 28:.0f}" fill="#616161">{note}</text>')
    return out
