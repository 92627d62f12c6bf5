"""`make lint`'s check of deploy/k8s/, offline: every manifest against the Kubernetes
schemas (kubernetes-validate, which ships them, strict: an unknown field fails), KEDA's
ScaledObject against its CRD's schema kept in deploy/k8s/schemas/, and the kustomization
listing exactly the manifests there are.

    uv run python -m devtools.k8s_lint
"""

import json
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "deploy" / "k8s"
# The oldest Kubernetes the base is written for: the preStop `sleep` action is GA in 1.32.
KUBERNETES_VERSION = "1.32.0"
CUSTOM_SCHEMAS = {("keda.sh/v1alpha1", "ScaledObject"): BASE / "schemas" / "keda-scaledobject.json"}


def problems_of(path: Path) -> list[str]:
    found = []
    for document in yaml.safe_load_all(path.read_text()):
        kind = (document.get("apiVersion"), document.get("kind"))
        where = f"{path.name} ({kind[1]} {document['metadata']['name']})"
        if kind in CUSTOM_SCHEMAS:
            schema = json.loads(CUSTOM_SCHEMAS[kind].read_text())
            validator = jsonschema.Draft7Validator(schema)
            found += [f"{where}: {error.message}" for error in validator.iter_errors(document)]
            continue
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            found.append(f"{where}: {error.message} at {'.'.join(map(str, error.path))}")
    return found


def kustomization_problems() -> list[str]:
    kustomization: dict[str, Any] = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {path.name for path in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    return [f"kustomization.yaml does not list {name}" for name in sorted(present - listed)] + [
        f"kustomization.yaml lists {name}, which does not exist"
        for name in sorted(listed - present)
    ]


def main() -> int:
    manifests = sorted(set(BASE.glob("*.yaml")) - {BASE / "kustomization.yaml"})
    problems = kustomization_problems()
    for path in manifests:
        problems += problems_of(path)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"deploy/k8s: {len(manifests)} manifests valid for Kubernetes {KUBERNETES_VERSION}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
