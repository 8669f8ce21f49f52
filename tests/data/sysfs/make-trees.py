#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Write the recorded sysfs trees used by test-discover and devices.sh.

Each tree under tests/data/sysfs/<name>/ holds the parts of sys/ (and
proc/) that discovery reads, laid out as the kernel does: devices under
sys/devices/..., relative symlinks from sys/bus/*/devices, sys/class/*
and each interface's driver link, tty class devices under the usb-serial
port, net/ and usbmisc/ under the QMI interface, MHI wwan ports under the
PCI function. proc/<pid>/fd links name the nodes other programs hold.

The trees are committed; run this script to rewrite them after a change:
    python3 tests/data/sysfs/make-trees.py
"""
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text if text.endswith("\n") else text + "\n")


def link(root, at, target):
    """Relative symlink root/at -> root/target (both paths inside the tree)."""
    src = os.path.join(root, at)
    os.makedirs(os.path.dirname(src), exist_ok=True)
    rel = os.path.relpath(os.path.join(root, target), os.path.dirname(src))
    if os.path.lexists(src):
        os.remove(src)
    os.symlink(rel, src)


def pci_host(root, host, vendor="0x8086", device="0xa36d", driver="xhci_hcd", bus_link=True):
    d = f"sys/devices/pci0000:00/{host}"
    write(f"{root}/{d}/vendor", vendor)
    write(f"{root}/{d}/device", device)
    write(f"{root}/{d}/class", "0x0c0330")
    os.makedirs(f"{root}/sys/bus/pci/drivers/{driver}", exist_ok=True)
    link(root, f"{d}/driver", f"sys/bus/pci/drivers/{driver}")
    if bus_link:
        link(root, f"sys/bus/pci/devices/{host}", d)
    return d


def root_hub(root, host, bus, usb3):
    d = f"sys/devices/pci0000:00/{host}/usb{bus}"
    write(f"{root}/{d}/idVendor", "1d6b")
    write(f"{root}/{d}/idProduct", "0003" if usb3 else "0002")
    write(f"{root}/{d}/speed", "5000" if usb3 else "480")
    write(f"{root}/{d}/product", "xHCI Host Controller")
    link(root, f"sys/bus/usb/devices/usb{bus}", d)
    return d


def usb_device(root, host, bus, path, vid, pid, product, manufacturer="", serial="",
               speed="480", power="on", ifaces=(), bus_link=True):
    d = f"sys/devices/pci0000:00/{host}/usb{bus}/{path}"
    write(f"{root}/{d}/idVendor", f"{vid:04x}")
    write(f"{root}/{d}/idProduct", f"{pid:04x}")
    write(f"{root}/{d}/product", product)
    if manufacturer:
        write(f"{root}/{d}/manufacturer", manufacturer)
    if serial:
        write(f"{root}/{d}/serial", serial)
    write(f"{root}/{d}/speed", speed)
    write(f"{root}/{d}/busnum", str(bus))
    write(f"{root}/{d}/devpath", path.split("-", 1)[1])
    write(f"{root}/{d}/bNumInterfaces", f"{len(ifaces):2d}")
    write(f"{root}/{d}/power/control", power)
    write(f"{root}/{d}/power/autosuspend_delay_ms", "2000")
    write(f"{root}/{d}/uevent", f"DEVTYPE=usb_device\nPRODUCT={vid:x}/{pid:x}/318\n")
    if bus_link:
        link(root, f"sys/bus/usb/devices/{path}", d)
    for i in ifaces:
        usb_iface(root, d, path, **i)
    return d


def usb_iface(root, devdir, path, num, cls, sub, proto, eps, driver=None, ttys=(),
              acm=(), net=(), wdm=()):
    name = f"{path}:1.{num}"
    d = f"{devdir}/{name}"
    write(f"{root}/{d}/bInterfaceNumber", f"{num:02x}")
    write(f"{root}/{d}/bInterfaceClass", f"{cls:02x}")
    write(f"{root}/{d}/bInterfaceSubClass", f"{sub:02x}")
    write(f"{root}/{d}/bInterfaceProtocol", f"{proto:02x}")
    write(f"{root}/{d}/bNumEndpoints", f"{eps:02x}")
    write(f"{root}/{d}/uevent", f"DEVTYPE=usb_interface\nINTERFACE={cls}/{sub}/{proto}\n")
    link(root, f"sys/bus/usb/devices/{name}", d)
    if driver:
        os.makedirs(f"{root}/sys/bus/usb/drivers/{driver}", exist_ok=True)
        link(root, f"{d}/driver", f"sys/bus/usb/drivers/{driver}")
    for t in ttys:
        # usb-serial port device, its tty class device one level down
        n = int(t[len("ttyUSB"):])
        os.makedirs(f"{root}/sys/bus/usb-serial/drivers/{driver}1", exist_ok=True)
        link(root, f"{d}/{t}/driver", f"sys/bus/usb-serial/drivers/{driver}1")
        write(f"{root}/{d}/{t}/port_number", "0")
        write(f"{root}/{d}/{t}/tty/{t}/dev", f"188:{n}")
        write(f"{root}/{d}/{t}/tty/{t}/uevent", f"MAJOR=188\nMINOR={n}\nDEVNAME={t}\n")
        link(root, f"sys/class/tty/{t}", f"{d}/{t}/tty/{t}")
    for t in acm:
        n = int(t[len("ttyACM"):])
        write(f"{root}/{d}/tty/{t}/dev", f"166:{n}")
        write(f"{root}/{d}/tty/{t}/uevent", f"MAJOR=166\nMINOR={n}\nDEVNAME={t}\n")
        link(root, f"sys/class/tty/{t}", f"{d}/tty/{t}")
    for k, n in enumerate(net):
        write(f"{root}/{d}/net/{n}/uevent", f"DEVTYPE=wwan\nINTERFACE={n}\nIFINDEX={4 + k}\n")
        write(f"{root}/{d}/net/{n}/type", "1")
        link(root, f"sys/class/net/{n}", f"{d}/net/{n}")
    for n in wdm:
        minor = int(n[len("cdc-wdm"):])
        write(f"{root}/{d}/usbmisc/{n}/dev", f"180:{minor}")
        write(f"{root}/{d}/usbmisc/{n}/uevent", f"MAJOR=180\nMINOR={minor}\nDEVNAME={n}\n")
        link(root, f"sys/class/usbmisc/{n}", f"{d}/usbmisc/{n}")


def process(root, pid, comm, fds=()):
    write(f"{root}/proc/{pid}/comm", comm)
    os.makedirs(f"{root}/proc/{pid}/fd", exist_ok=True)
    for k, target in enumerate(fds):
        os.symlink(target, f"{root}/proc/{pid}/fd/{k + 3}")


def fresh(name):
    root = os.path.join(HERE, name)
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(f"{root}/sys/bus/usb/devices")
    os.makedirs(f"{root}/proc")
    process(root, 1, "systemd", ["/dev/null", "socket:[1234]"])
    return root


XHCI = "0000:00:14.0"

# Quectel "older" composition (reference section 3): DIAG ff/ff/ff with 2 endpoints,
# NMEA, AT, modem, QMI ff/ff/ff with 3 endpoints.
OLD = [
    dict(num=0, cls=0xff, sub=0xff, proto=0xff, eps=2, driver="option", ttys=["ttyUSB0"]),
    dict(num=1, cls=0xff, sub=0x00, proto=0x00, eps=3, driver="option", ttys=["ttyUSB1"]),
    dict(num=2, cls=0xff, sub=0x00, proto=0x00, eps=3, driver="option", ttys=["ttyUSB2"]),
    dict(num=3, cls=0xff, sub=0x00, proto=0x00, eps=3, driver="option", ttys=["ttyUSB3"]),
    dict(num=4, cls=0xff, sub=0xff, proto=0xff, eps=3, driver="qmi_wwan", net=["wwan0"],
         wdm=["cdc-wdm0"]),
]
# RM520N: DIAG ff/ff/30, NMEA ff/00/40, AT, modem, RMNET/QMI ff/ff/50.
NEW = [
    dict(num=0, cls=0xff, sub=0xff, proto=0x30, eps=2, driver="option", ttys=["ttyUSB0"]),
    dict(num=1, cls=0xff, sub=0x00, proto=0x40, eps=3, driver="option", ttys=["ttyUSB1"]),
    dict(num=2, cls=0xff, sub=0x00, proto=0x00, eps=3, driver="option", ttys=["ttyUSB2"]),
    dict(num=3, cls=0xff, sub=0x00, proto=0x00, eps=3, driver="option", ttys=["ttyUSB3"]),
    dict(num=4, cls=0xff, sub=0xff, proto=0x50, eps=3, driver="qmi_wwan", net=["wwan0"],
         wdm=["cdc-wdm0"]),
]
EDL = [dict(num=0, cls=0xff, sub=0xff, proto=0xff, eps=2, driver="qcserial", ttys=["ttyUSB0"])]


def ec25():
    # EC25 in normal mode; autosuspend on; ModemManager holds the AT port and the QMI node,
    # minicom the modem port
    r = fresh("ec25")
    pci_host(r, XHCI)
    root_hub(r, XHCI, 1, False)
    usb_device(r, XHCI, 1, "1-1", 0x2c7c, 0x0125, "EC25", "Quectel", "", "480", "auto", OLD)
    process(r, 613, "ModemManager", ["/dev/null", "/dev/ttyUSB2", "/dev/cdc-wdm0"])
    process(r, 2000, "minicom", ["/dev/ttyUSB3"])


def rm520n():
    # RM520N on a USB3 port, autosuspend off, nobody else around
    r = fresh("rm520n")
    pci_host(r, XHCI)
    root_hub(r, XHCI, 1, False)
    root_hub(r, XHCI, 2, True)
    usb_device(r, XHCI, 2, "2-1", 0x2c7c, 0x0801, "RM520N-GL", "Quectel", "", "5000", "on", NEW)


def pcie():
    # RM520N-GL on PCIe: mhi-pci-generic, ports are /dev/wwan0* char devices (not ttys)
    r = fresh("pcie-rm520n")
    pci_host(r, "0000:00:1c.0", "0x8086", "0xa33c", "pcieport")
    d = "sys/devices/pci0000:00/0000:00:1c.0/0000:01:00.0"
    write(f"{r}/{d}/vendor", "0x1eac")
    write(f"{r}/{d}/device", "0x1007")
    write(f"{r}/{d}/class", "0x0d4000")
    os.makedirs(f"{r}/sys/bus/pci/drivers/mhi-pci-generic", exist_ok=True)
    link(r, f"{d}/driver", "sys/bus/pci/drivers/mhi-pci-generic")
    link(r, "sys/bus/pci/devices/0000:01:00.0", d)
    wd = f"{d}/mhi0/wwan/wwan0"
    write(f"{r}/{wd}/uevent", "DEVTYPE=wwan_dev\n")
    link(r, "sys/class/wwan/wwan0", wd)
    for k, (name, typ) in enumerate([("wwan0at0", "AT"), ("wwan0mbim0", "MBIM"),
                                     ("wwan0qcdm0", "QCDM"), ("wwan0nmea0", "NMEA")]):
        write(f"{r}/{wd}/{name}/type", typ)
        write(f"{r}/{wd}/{name}/dev", f"234:{k}")
        write(f"{r}/{wd}/{name}/uevent", f"MAJOR=234\nMINOR={k}\nDEVNAME={name}\n")
        link(r, f"sys/class/wwan/{name}", f"{wd}/{name}")
    nd = f"{d}/mhi0/mhi0_IP_HW0/net/mhi_hwip0"
    write(f"{r}/{nd}/uevent", "INTERFACE=mhi_hwip0\nIFINDEX=3\n")
    link(r, "sys/class/net/mhi_hwip0", nd)
    # the /dev nodes the kernel makes for the ports, for people reading the tree
    write(f"{r}/dev-nodes.txt",
          "/dev/wwan0at0 (c 234:0)\n/dev/wwan0mbim0 (c 234:1)\n/dev/wwan0qcdm0 (c 234:2)\n"
          "/dev/wwan0nmea0 (c 234:3)\n")


def edl():
    # 9008 with qcserial bound (ttyUSB0); ModemManager runs but ignores EDL devices
    r = fresh("edl-qcserial")
    pci_host(r, XHCI)
    root_hub(r, XHCI, 1, False)
    usb_device(r, XHCI, 1, "1-2", 0x05c6, 0x9008, "QUSB__BULK", "Qualcomm CDMA Technologies MSM",
               "", "480", "on", EDL)
    process(r, 613, "ModemManager", ["/dev/null"])


def dump():
    # 900e crash dump, no driver bound
    r = fresh("dump-900e")
    pci_host(r, XHCI)
    root_hub(r, XHCI, 1, False)
    usb_device(r, XHCI, 1, "1-3", 0x05c6, 0x900e, "QUSB__BULK", "Qualcomm CDMA Technologies MSM",
               "", "480", "on",
               [dict(num=0, cls=0xff, sub=0xff, proto=0xff, eps=2)])


def empty():
    # a machine with a keyboard and no modem
    r = fresh("empty")
    pci_host(r, XHCI)
    root_hub(r, XHCI, 1, False)
    usb_device(r, XHCI, 1, "1-4", 0x046d, 0xc31c, "USB Keyboard", "Logitech", "", "1.5", "on",
               [dict(num=0, cls=0x03, sub=0x01, proto=0x01, eps=1, driver="usbhid")])


def reenum():
    # for mfw_discover_wait_edl: RM520N in normal mode on the USB3 bus, an older 9008 at 1-2,
    # and a 9008 at 1-5 (USB2 bus, same controller) whose bus link the test adds later
    r = fresh("reenum")
    pci_host(r, XHCI)
    root_hub(r, XHCI, 1, False)
    root_hub(r, XHCI, 2, True)
    usb_device(r, XHCI, 2, "2-1", 0x2c7c, 0x0801, "RM520N-GL", "Quectel", "", "5000", "on", NEW)
    usb_device(r, XHCI, 1, "1-2", 0x05c6, 0x9008, "QUSB__BULK", "", "", "480", "on",
               [dict(num=0, cls=0xff, sub=0xff, proto=0xff, eps=2)])
    usb_device(r, XHCI, 1, "1-5", 0x05c6, 0x9008, "QUSB__BULK", "", "", "480", "on",
               [dict(num=0, cls=0xff, sub=0xff, proto=0xff, eps=2)], bus_link=False)
    # the 1-5 interface link is made by usb_iface; the test removes nothing, it adds 1-5 itself
    os.remove(f"{r}/sys/bus/usb/devices/1-5:1.0")


def main():
    for fn in (ec25, rm520n, pcie, edl, dump, empty, reenum):
        fn()
    return 0


if __name__ == "__main__":
    sys.exit(main())
