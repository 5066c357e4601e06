"""``nuset info``: model, device and versions."""
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

    segmenter = load_segmenter(model, device)
    meta = segmenter.metadata
    validation = meta.get("validation", {})
    lines = [
        f"nuset {nuset_engine.__version__}",
        f"model: {model or default_model_path()}",
        f"  architecture: U-Net + RPN, channels per level {'/'.join(map(str, segmenter.net.config.widths))}, "
        f"{sum(p.numel() for p in segmenter.net.parameters()):,} parameters",
        f"  training nucleus size: {segmenter.training_nucleus_size:.1f} px",
    ]
    if validation:
        lines.append(f"  validation AP50 {validation['ap@0.50']:.3f}, F1@0.5 {validation['f1@0.50']:.3f}, "
                     f"mean AP {validation['mean_ap']:.3f}")
    lines += [
        f"device: {segmenter.device}" + (f" ({torch.cuda.get_device_name()})" if segmenter.device.type == "cuda" else ""),
        f"threads: {torch.get_num_threads()}",
        f"torch {torch.__version__}, numpy {numpy.__version__}, scikit-image {skimage.__version__}, scipy {scipy.__version__}",
    ]
    click.echo("\n".join(lines))
