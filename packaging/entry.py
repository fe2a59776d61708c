"""The binary's entry point: the `appliance` command, as the console script installs it."""

import gc
import os
import sys
import warnings

if getattr(sys, "frozen", False):
    # Time zone data for boxes without the system's, as one zip (packaging/appliance.spec, tzdata_zip).
    sys.path.append(os.path.join(sys._MEIPASS, "tzdata.zip"))

# The binary leaves Pillow out (packaging/appliance.spec): fpdf2 needs it only for images, and warns
# on import when it is missing, which would otherwise print on every `statement --pdf`.
warnings.filterwarnings("ignore", message="Pillow could not be imported", category=UserWarning)

# Importing the appliance makes ~160,000 objects and almost no garbage, yet the cyclic collector runs
# ~240 times meanwhile: a quarter of the import time (0.9 s -> 0.65 s measured, bench/startup.py).
# So it waits until the imports are done; freeze() then keeps those long-lived objects out of every
# later full collection, for as long as the server runs. The server's own modules are imported here
# too when the command line serves (a stray "serve" elsewhere only imports them for nothing).
gc.disable()
try:
    from appliance.cli import main

    if "serve" in sys.argv[1:]:
        import appliance.server  # noqa: F401
finally:
    gc.freeze()
    gc.enable()

main()
