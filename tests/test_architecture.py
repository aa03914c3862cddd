"""The import structure stays as docs/ARCHITECTURE.md draws it: every import points down a layer (or stays
in its own package), no two files import each other, and no stage reaches into the shell or the spiders."""
import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
# Higher imports lower. Stages on one level (sentiment, alerts) do not import each other.
LAYERS = {"kuchikomi": 6, "web": 5.5, "crawlers": 5, "pipelines": 4, "sentiment": 3, "alerts": 3, "index.research": 2.5,
          "index.storage": 2, "index": 2, "foundations": 1}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> tuple[str, float] | None:
    for package in sorted(LAYERS, key=len, reverse=True):
        if module == package or module.startswith(package + "."):
            return package, LAYERS[package]
    return None


def project_imports() -> nx.DiGraph:
    """Every file of the project's packages and the project modules it imports (module level or inside
    a function alike)."""
    graph = nx.DiGraph()
    files = {module_name(p): p for top in {name.split(".")[0] for name in LAYERS}
             for p in (ROOT / top).rglob("*.py")}
    for name, path in files.items():
        graph.add_node(name)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for target in targets:
                if target in files and target != name:
                    graph.add_edge(name, target)
    return graph


def test_every_import_points_down_a_layer():
    upward = []
    for source, target in project_imports().edges:
        (source_package, source_level), (target_package, target_level) = layer_of(source), layer_of(target)
        same_package = source_package == target_package or target_package == "index" == source_package[:5]
        if not same_package and target_level >= source_level:
            upward.append(f"{source} -> {target}")
    assert upward == []


def test_no_files_import_each_other():
    assert list(nx.simple_cycles(project_imports())) == []


def test_the_graph_holds_module_level_and_function_level_imports():
    graph = project_imports()
    assert ("pipelines.alert", "alerts.dispatch") in graph.edges  # at the top of the file
    assert ("kuchikomi.commands.crawl", "kuchikomi.crawl") in graph.edges  # inside run()
