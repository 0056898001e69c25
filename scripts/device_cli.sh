# Sourced by device_check.sh and device_train.sh on the lent GPU machine: the CUDA toolkit's
# libraries on the loader path (burn-cuda loads libnvrtc at run time) and the semiseg CLI that
# `device_check.sh stage` sent as .device/semiseg.xz, unpacked with python's lzma (the machine
# may have no xz tool; a failed unpack is never run). Sets $bin, or target/release/semiseg when
# nothing was sent (a dry run here).
export LD_LIBRARY_PATH=${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}/usr/local/cuda/lib64
bin=target/release/semiseg
if [ -f .device/semiseg.xz ]; then
  rm -f /tmp/semiseg-device
  python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],"wb"))' \
    .device/semiseg.xz /tmp/semiseg-device && chmod +x /tmp/semiseg-device && bin=/tmp/semiseg-device
fi
