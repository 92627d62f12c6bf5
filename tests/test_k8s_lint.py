"""`make lint`'s check of deploy/k8s/ (devtools/k8s_lint.py) refuses a manifest Kubernetes
or KEDA would refuse."""

from pathlib import Path

from devtools.k8s_lint import BASE, problems_of


def edited(tmp_path: Path, name: str, old: str, new: str) -> Path:
    text = (BASE / name).read_text()
    assert old in text
    copy = tmp_path / name
    copy.write_text(text.replace(old, new))
    return copy


def test_the_base_as_committed_passes() -> None:
    assert [
        problem
        for path in BASE.glob("*.yaml")
        if path.name != "kustomization.yaml"
        for problem in problems_of(path)
    ] == []


def test_a_misspelled_field_of_a_deployment_fails(tmp_path: Path) -> None:
    path = edited(tmp_path, "api-deployment.yaml", "readinessProbe:", "readynessProbe:")
    assert any("readynessProbe" in problem for problem in problems_of(path))


def test_a_wrong_type_fails(tmp_path: Path) -> None:
    path = edited(tmp_path, "api-hpa.yaml", "minReplicas: 3", "minReplicas: three")
    assert problems_of(path)


def test_a_scaled_object_without_triggers_fails_against_kedas_schema(tmp_path: Path) -> None:
    path = edited(tmp_path, "worker-scaledobject.yaml", "  triggers:", "  triggerz:")
    assert any("triggers" in problem for problem in problems_of(path))
