"""`coe kuberay render`: a validated RayService manifest from a cascade and a cluster spec."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    group = subparsers.add_parser("kuberay", help="deploy on Kubernetes through KubeRay")
    commands = group.add_subparsers(dest="kuberay_command", required=True)
    render = commands.add_parser(
        "render", help="render a RayService manifest (checked against the CRD and Serve schema)"
    )
    render.add_argument("--cascade", required=True, help="cascade YAML (configs/*.yaml)")
    render.add_argument("--cluster", default=None,
                        help="cluster spec YAML (default: cluster/default_cluster.yaml)")
    render.add_argument("--out", required=True, help="manifest YAML to write ('-' = stdout)")
    render.add_argument("--name", default="coe-serve", help="RayService name")
    render.add_argument("--namespace", default=None)
    render.add_argument("--image", default=None, help="image built from cluster/kuberay/Dockerfile")
    render.add_argument("--assets-claim", default="coe-assets",
                        help="PVC with the weights, mounted as COE_ASSETS; 'none' when the "
                        "image has them baked in")
    render.add_argument("--catalog", default=None, help="GPU catalog YAML (default: bundled)")
    render.add_argument("--no-validate", action="store_true",
                        help="skip the CRD / Serve schema checks (e.g. no assets root here)")
    render.set_defaults(func=cmd_render)


def cmd_render(args: argparse.Namespace) -> int:
    from cascade.config import load_cascade
    from cluster.spec import load_cluster_spec
    from cost_model.catalog import load_catalog
    from serve_app.kuberay_manifest import (
        DEFAULT_IMAGE,
        HEADER,
        RenderOptions,
        dump_manifest,
        render_rayservice,
        summary,
    )
    from serve_app.kuberay_validate import validate_rayservice

    catalog = load_catalog(args.catalog)
    cascade = load_cascade(args.cascade, catalog=args.catalog)
    cluster = load_cluster_spec(args.cluster, catalog=catalog)
    claim = None if args.assets_claim.lower() == "none" else args.assets_claim
    options = RenderOptions(
        name=args.name, namespace=args.namespace, image=args.image or DEFAULT_IMAGE,
        assets_claim=claim,
    )
    manifest = render_rayservice(cascade, cluster, catalog, options)
    if not args.no_validate:
        validate_rayservice(manifest)
    header = HEADER.format(
        cascade=cascade.name, cluster=cluster.name, cascade_path=args.cascade,
        cluster_path=args.cluster or "cluster/default_cluster.yaml", out=args.out,
        claim=claim or "(none)", mount="/mnt/coe-assets",
    )
    text = dump_manifest(manifest, header)
    if args.out == "-":
        print(text, end="")
        return 0
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    checked = "not validated" if args.no_validate else "valid against the RayService CRD and " \
        "Ray's ServeDeploySchema"
    print(f"wrote {args.out} ({checked})\n{summary(manifest)}")
    return 0
