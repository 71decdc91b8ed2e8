"""Model families, one folder each (keras-hub style). Importing this registers every family's
presets — data only, no TensorFlow; a family's code is imported when one of its models is built.

Adding a family: a folder with ``<family>_presets.py`` and a 3-line ``__init__`` calling
``register_presets``, plus its line here.
"""

from RMBG.models import fba_matting, inspyrenet, matting_net, refiner, resnet50_unet, tracer_b7, u2net  # noqa: F401  (registration)
