"""Removable drives: USB devices, hardware events, mounts and file events."""

from __future__ import annotations

from typing import Any

from .procs import ProcessOps
from .state import (
    Drive,
    Mount,
    UsbDevice,
    UsbDrive,
)


class DeviceOps(ProcessOps):
    """USB drives: usb_devices, hardware_events, mounts, file_events, logical_drives."""

    def op_usb_insert(self, t: int, drive: UsbDrive, tag: str) -> None:
        note: dict[str, Any] = {
            "serial": drive.serial,
            "vendor": drive.vendor,
            "model": drive.model,
            "inserted_at": t,
        }
        self.notes[tag] = note
        if not self.posix:
            self.drives.append(
                Drive("E:", "Removable Disk", "Removable Disk", drive.blocks * 512, "FAT32", 0)
            )
            note.update(mount_path="E:\\", device="E:")
            self.bump("drives")
            return
        addr = 5 + sum(1 for k in self.notes if k.startswith("usb"))
        self.usb.append(
            UsbDevice(
                addr,
                2,
                drive.vendor,
                drive.vendor_id,
                drive.revision,
                drive.model,
                drive.model_id,
                drive.serial,
                "0",
                "0",
                "0",
                "1",
            )
        )
        self.bump("usb")
        if self.p.platform == "linux":
            ev = self.hw_event(t, "add", f"/dev/bus/usb/001/{addr:03d}", "usb_device", "usb", drive)
            self.hw_event(t + 1, "add", "/dev/sdb", "disk", "sd", drive)
        else:
            ev = self.hw_event(
                t,
                "attach",
                "IOService:/AppleARMPE/arm-io@10F00000/AppleT810xIO/"
                f"usb-drd1@2280000/AppleT8103USBXHCI@01000000/{drive.model}"
                f"@0110{addr:04d}",
                "",
                "IOUSBHostDevice",
                drive,
            )
        note["hardware_event"] = ev

    def op_usb_mount(self, t: int, drive: UsbDrive, tag: str) -> None:
        if self.p.platform == "linux":
            m = Mount(
                "/dev/sdb1",
                "/dev/sdb1",
                f"/media/{self.p.user}/{drive.label}",
                "vfat",
                4096,
                drive.blocks // 8,
                "rw,nosuid,nodev,relatime,uid=1000,gid=1000,"
                "fmask=0022,dmask=0022,codepage=437,iocharset=iso8859-1,shortname=mixed,"
                "showexec,utf8,flush,errors=remount-ro",
            )
        else:
            m = Mount(
                "/dev/disk4s1",
                "/dev/disk4s1",
                f"/Volumes/{drive.label}",
                "msdos",
                512,
                drive.blocks,
                "local,nodev,nosuid,noowners",
            )
        self.mounts.append(m)
        self.bump("mounts")
        self.notes[tag].update(mount_path=m.path, device=m.device, mounted_at=t)

    def op_usb_file(self, t: int, name: str, action: str, size: int, tag: str) -> None:
        note = self.notes[tag]
        u = self.user(self.p.user)
        uid, gid = (u.uid, u.gid) if u else (0, 0)
        path = f"{note['mount_path']}/{name}"
        if action == "CREATED":
            src = f"{u.directory if u else '/tmp'}/Documents/{name}"
            self.op_exec(t - 1, self.p.user, "/bin/cp", f"cp {src} {path}", False, 0, 0, "")
        ev = self.file_event(t, path, action, "usb", uid, gid, size)
        note.setdefault("file_event", ev)

    def op_usb_unmount(self, t: int, tag: str) -> None:
        path = self.notes[tag].get("mount_path")
        self.mounts = [m for m in self.mounts if m.path != path]
        self.bump("mounts")
        self.notes[tag]["unmounted_at"] = t

    def op_usb_remove(self, t: int, drive: UsbDrive, tag: str) -> None:
        self.notes[tag]["removed_at"] = t
        if not self.posix:
            self.drives = [d for d in self.drives if d.device_id != "E:"]
            self.bump("drives")
            return
        dev = next(u for u in self.usb if u.serial == drive.serial)
        self.usb.remove(dev)
        self.bump("usb")
        if self.p.platform == "linux":
            self.hw_event(t, "remove", "/dev/sdb", "disk", "sd", drive)
            self.hw_event(
                t, "remove", f"/dev/bus/usb/001/{dev.usb_address:03d}", "usb_device", "usb", drive
            )
        else:
            self.hw_event(
                t,
                "detach",
                "IOService:/AppleARMPE/arm-io@10F00000/AppleT810xIO/"
                f"usb-drd1@2280000/AppleT8103USBXHCI@01000000/{drive.model}"
                f"@0110{dev.usb_address:04d}",
                "",
                "IOUSBHostDevice",
                drive,
            )
