"""``nuset info``: model (what it was trained on, how it validated, its
post-processing defaults), device and versions."""
from __future__ import annotations

import click

from ._common import load_segmenter


@click.command(context_settings={"show_default": True})
@click.option("--model", type=click.Path(dir_okay=False), default=None, help="Model file (default: shipped model).")
@click.option("--device", default="auto", help="auto, cpu or cuda.")
def info(model, device) -> None:
    """Show the model, the device it would run on, and library versions."""
    import numpy
    import scipy
    import skimage
    import torch

    import nuset_engine
    from nuset_engine import default_model_path
    from nuset_engine.colour import model_input

    segmenter = load_segmenter(model, device)
    lines = [
        f"nuset {nuset_engine.__version__}",
        f"model: {model or default_model_path()}",
        f"  architecture: U-Net + RPN, channels per level {'/'.join(map(str, segmenter.net.config.widths))}, "
        f"{sum(p.numel() for p in segmenter.net.parameters()):,} parameters",
        f"  training nucleus size: {segmenter.training_nucleus_size:.1f} px",
        f"  input: {model_input(segmenter.metadata).description}",
        *model_lines(segmenter.metadata, segmenter.postprocessing),
        f"device: {segmenter.device}" + (f" ({torch.cuda.get_device_name()})" if segmenter.device.type == "cuda" else ""),
        f"threads: {torch.get_num_threads()}",
        f"torch {torch.__version__}, numpy {numpy.__version__}, scikit-image {skimage.__version__}, scipy {scipy.__version__}",
    ]
    click.echo("\n".join(lines))


def model_lines(meta: dict, postprocessing: dict) -> list[str]:
    """What a model file's metadata says of its training and validation, and
    its post-processing defaults (``postprocessing``: those the segmenter
    uses); model files written before fine-tuning existed (the shipped one)
    hold less, and say so."""
    training = meta.get("training", {})
    parent = meta.get("parent")
    images = meta.get("training_ids")
    count = f"{len(images)} images" if images is not None else f"images in {training.get('images', '?')}"
    how = (f"fine-tuned from {parent.get('model')} (weights sha256 {parent.get('sha256')})" if parent
           else "trained from scratch")
    lines = [f"  {how} on {count}"]
    minutes = f"{meta['minutes']:.1f} min" if "minutes" in meta else None
    if minutes is None and "wall_seconds" in meta:  # older files: only the time to the best epoch
        minutes = f"{meta['wall_seconds'] / 60:.1f} min to the best epoch"
    run = [minutes,
           f"best epoch {meta['epoch']}" if "epoch" in meta else None,
           f"stopped: {meta['stopped']}" if "stopped" in meta else None]
    if any(run):
        lines.append("  training: " + ", ".join(filter(None, run)))
    validation = meta.get("validation", {})
    if validation:
        lines.append(f"  validation AP50 {validation['ap@0.50']:.3f}, F1@0.5 {validation['f1@0.50']:.3f}, "
                     f"mean AP {validation['mean_ap']:.3f}")
    method = meta.get("validation_method")
    if method is None and "split_rule" in meta:
        method = f"held-out images: {len(meta.get('validation_ids', []))} by the fixed id hash split"
        method += f" ({meta['split_rule']})"
    if method:
        lines.append(f"  validated on {method}")
    values = ", ".join(f"{k} {v:g}" for k, v in postprocessing.items())
    if meta.get("postprocessing"):
        lines.append(f"  post-processing defaults (chosen on its validation images): {values}")
    else:
        lines.append(f"  post-processing defaults: {values} (the engine's, for model files without their own)")
    return lines
