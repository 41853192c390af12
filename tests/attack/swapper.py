"""Swap a folder with a symlink to another folder and back, `count` times, as fast as it can:
`python swapper.py FOLDER TARGET COUNT PAUSE`. Ends with the real folder in place."""

import os
import sys
import time

folder, target, count, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
real = folder + ".real"
for _ in range(count):
    os.rename(folder, real)
    os.symlink(target, folder)
    time.sleep(pause)
    os.unlink(folder)
    os.rename(real, folder)
    time.sleep(pause)
print("done", flush=True)
