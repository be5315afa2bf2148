"""Baseline contents of a fresh machine, per platform and kind."""

from __future__ import annotations

from .state import OsInfo, UsbDevice, UsbDrive

# (name, path, cmdline, user) -- user "" = root/SYSTEM, "$u" = the primary user
ProcSpec = tuple[str, str, str, str]

LINUX_BASE: tuple[ProcSpec, ...] = (
    ("systemd", "/usr/lib/systemd/systemd", "/sbin/init splash", ""),
    ("systemd-journal", "/usr/lib/systemd/systemd-journald", "/lib/systemd/systemd-journald", ""),
    ("systemd-udevd", "/usr/bin/udevadm", "/lib/systemd/systemd-udevd", ""),
    (
        "systemd-network",
        "/usr/lib/systemd/systemd-networkd",
        "/lib/systemd/systemd-networkd",
        "systemd-network",
    ),
    (
        "systemd-resolve",
        "/usr/lib/systemd/systemd-resolved",
        "/lib/systemd/systemd-resolved",
        "systemd-resolve",
    ),
    ("cron", "/usr/sbin/cron", "/usr/sbin/cron -f -P", ""),
    (
        "dbus-daemon",
        "/usr/bin/dbus-daemon",
        "@dbus-daemon --system --address=systemd: --nofork --nopidfile --systemd-activation "
        "--syslog-only",
        "messagebus",
    ),
    ("sshd", "/usr/sbin/sshd", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", ""),
    ("agetty", "/usr/sbin/agetty", "/sbin/agetty -o -p -- \\u --noclear tty1 linux", ""),
    (
        "osqueryd",
        "/opt/osquery/bin/osqueryd",
        "/opt/osquery/bin/osqueryd --flagfile /etc/osquery/osquery.flags",
        "",
    ),
    (
        "osqueryd",
        "/opt/osquery/bin/osqueryd",
        "/opt/osquery/bin/osqueryd --flagfile /etc/osquery/osquery.flags",
        "",
    ),
)
LINUX_DESKTOP: tuple[ProcSpec, ...] = (
    ("NetworkManager", "/usr/sbin/NetworkManager", "/usr/sbin/NetworkManager --no-daemon", ""),
    ("wpa_supplicant", "/usr/sbin/wpa_supplicant", "/sbin/wpa_supplicant -u -s -O /run/wpa", ""),
    ("cupsd", "/usr/sbin/cupsd", "/usr/sbin/cupsd -l", ""),
    ("gdm3", "/usr/sbin/gdm3", "/usr/sbin/gdm3", ""),
    ("gnome-shell", "/usr/bin/gnome-shell", "/usr/bin/gnome-shell", "$u"),
    ("pipewire", "/usr/bin/pipewire", "/usr/bin/pipewire", "$u"),
    (
        "gnome-terminal-",
        "/usr/libexec/gnome-terminal-server",
        "/usr/libexec/gnome-terminal-server",
        "$u",
    ),
)
LINUX_SERVER: dict[str, tuple[ProcSpec, ...]] = {
    "web": (
        ("nginx", "/usr/sbin/nginx", "nginx: master process /usr/sbin/nginx", ""),
        ("nginx", "/usr/sbin/nginx", "nginx: worker process", "www-data"),
        ("nginx", "/usr/sbin/nginx", "nginx: worker process", "www-data"),
    ),
    "db": (
        (
            "postgres",
            "/usr/lib/postgresql/16/bin/postgres",
            "/usr/lib/postgresql/16/bin/postgres -D /var/lib/postgresql/16/main",
            "postgres",
        ),
        (
            "postgres",
            "/usr/lib/postgresql/16/bin/postgres",
            "postgres: 16/main: checkpointer",
            "postgres",
        ),
    ),
    "other": (
        ("dockerd", "/usr/bin/dockerd", "/usr/bin/dockerd -H fd://", ""),
        ("containerd", "/usr/bin/containerd", "/usr/bin/containerd", ""),
    ),
}
DARWIN_BASE: tuple[ProcSpec, ...] = (
    ("launchd", "/sbin/launchd", "/sbin/launchd", ""),
    ("logd", "/usr/libexec/logd", "/usr/libexec/logd", ""),
    ("UserEventAgent", "/usr/libexec/UserEventAgent", "/usr/libexec/UserEventAgent (System)", ""),
    ("configd", "/usr/libexec/configd", "/usr/libexec/configd", ""),
    ("mDNSResponder", "/usr/sbin/mDNSResponder", "/usr/sbin/mDNSResponder", "_mdnsresponder"),
    (
        "WindowServer",
        "/System/Library/PrivateFrameworks/SkyLight.framework/Resources/WindowServer",
        "/System/Library/PrivateFrameworks/SkyLight.framework/Resources/WindowServer -daemon",
        "_windowserver",
    ),
    (
        "loginwindow",
        "/System/Library/CoreServices/loginwindow.app/Contents/MacOS/loginwindow",
        "/System/Library/CoreServices/loginwindow.app/Contents/MacOS/loginwindow console",
        "$u",
    ),
    (
        "Dock",
        "/System/Library/CoreServices/Dock.app/Contents/MacOS/Dock",
        "/System/Library/CoreServices/Dock.app/Contents/MacOS/Dock",
        "$u",
    ),
    (
        "Finder",
        "/System/Library/CoreServices/Finder.app/Contents/MacOS/Finder",
        "/System/Library/CoreServices/Finder.app/Contents/MacOS/Finder",
        "$u",
    ),
    ("rapportd", "/usr/libexec/rapportd", "/usr/libexec/rapportd", "$u"),
    (
        "osqueryd",
        "/opt/osquery/lib/osquery.app/Contents/MacOS/osqueryd",
        "/opt/osquery/lib/osquery.app/Contents/MacOS/osqueryd --flagfile /var/osquery/osquery.flags",
        "",
    ),
)
WINDOWS_BASE: tuple[ProcSpec, ...] = (
    ("System", "", "", ""),
    ("Registry", "", "", ""),
    ("smss.exe", "C:\\Windows\\System32\\smss.exe", "\\SystemRoot\\System32\\smss.exe", ""),
    (
        "csrss.exe",
        "C:\\Windows\\System32\\csrss.exe",
        "%SystemRoot%\\system32\\csrss.exe ObjectDirectory=\\Windows",
        "",
    ),
    ("wininit.exe", "C:\\Windows\\System32\\wininit.exe", "wininit.exe", ""),
    (
        "services.exe",
        "C:\\Windows\\System32\\services.exe",
        "C:\\Windows\\system32\\services.exe",
        "",
    ),
    ("lsass.exe", "C:\\Windows\\System32\\lsass.exe", "C:\\Windows\\system32\\lsass.exe", ""),
    (
        "svchost.exe",
        "C:\\Windows\\System32\\svchost.exe",
        "C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p",
        "",
    ),
    (
        "svchost.exe",
        "C:\\Windows\\System32\\svchost.exe",
        "C:\\Windows\\system32\\svchost.exe -k RPCSS -p",
        "",
    ),
    (
        "svchost.exe",
        "C:\\Windows\\System32\\svchost.exe",
        "C:\\Windows\\system32\\svchost.exe -k netsvcs -p",
        "",
    ),
    (
        "MsMpEng.exe",
        "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24050.7-0\\MsMpEng.exe",
        '"C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24050.7-0\\MsMpEng.exe"',
        "",
    ),
    (
        "osqueryd.exe",
        "C:\\Program Files\\osquery\\osqueryd\\osqueryd.exe",
        '"C:\\Program Files\\osquery\\osqueryd\\osqueryd.exe" --flagfile="C:\\Program Files\\'
        'osquery\\osquery.flags"',
        "",
    ),
    ("explorer.exe", "C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE", "$u"),
)

# (name, path, cmdline template, long-running?) for user activity; {u} = username
USER_APPS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "linux": (
        ("firefox", "/usr/lib/firefox/firefox", "/usr/lib/firefox/firefox"),
        ("code", "/usr/share/code/code", "/usr/share/code/code --unity-launch"),
        ("slack", "/usr/lib/slack/slack", "/usr/lib/slack/slack --enable-crashpad"),
    ),
    "darwin": (
        (
            "Safari",
            "/Applications/Safari.app/Contents/MacOS/Safari",
            "/Applications/Safari.app/Contents/MacOS/Safari",
        ),
        (
            "Slack",
            "/Applications/Slack.app/Contents/MacOS/Slack",
            "/Applications/Slack.app/Contents/MacOS/Slack",
        ),
        (
            "Code Helper",
            "/Applications/Visual Studio Code.app/Contents/MacOS/Electron",
            "/Applications/Visual Studio Code.app/Contents/MacOS/Electron",
        ),
    ),
    "windows": (
        (
            "chrome.exe",
            "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
            '"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe"',
        ),
        (
            "OUTLOOK.EXE",
            "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE",
            '"C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE"',
        ),
        (
            "Teams.exe",
            "C:\\Users\\{u}\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe",
            '"C:\\Users\\{u}\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe"',
        ),
    ),
}
# short-lived commands (path, cmdline)
COMMANDS: dict[str, tuple[tuple[str, str], ...]] = {
    "linux": (
        ("/usr/bin/ls", "ls -la"),
        ("/usr/bin/git", "git status"),
        ("/usr/bin/git", "git pull --rebase"),
        ("/usr/bin/grep", "grep -rn TODO src"),
        ("/usr/bin/python3.12", "python3 -m pytest -q"),
        ("/usr/bin/curl", "curl -sS https://api.github.com/rate_limit"),
        ("/usr/bin/ssh", "ssh build-01"),
        ("/usr/bin/cat", "cat /etc/os-release"),
        ("/usr/bin/ps", "ps aux"),
        ("/usr/bin/vim", "vim notes.md"),
        ("/usr/bin/make", "make test"),
    ),
    "darwin": (
        ("/bin/ls", "ls -la"),
        ("/usr/bin/git", "git status"),
        ("/usr/bin/git", "git fetch origin"),
        ("/usr/bin/grep", "grep -rn TODO src"),
        ("/opt/homebrew/bin/python3", "python3 manage.py test"),
        ("/usr/bin/curl", "curl -sS https://example.com/health"),
        ("/usr/bin/ssh", "ssh web-0001"),
        ("/bin/ps", "ps aux"),
        ("/usr/bin/vim", "vim notes.md"),
        ("/opt/homebrew/bin/brew", "brew update"),
    ),
}
BURSTS: dict[str, tuple[tuple[str, str], ...]] = {
    "linux": (
        ("/usr/bin/cc", "cc -O2 -c src/parser.c -o build/parser.o"),
        ("/usr/lib/gcc/x86_64-linux-gnu/12/cc1", "cc1 -quiet src/parser.c"),
        ("/usr/bin/ld", "ld -o build/app build/parser.o build/main.o"),
        ("/usr/bin/python3.12", "python3 -c import sys; print(sys.version)"),
        ("/usr/bin/git", "git rev-parse HEAD"),
        ("/usr/bin/sh", "sh -c ./configure"),
    ),
    "darwin": (
        ("/usr/bin/clang", "clang -O2 -c src/parser.c"),
        ("/usr/bin/ld", "ld -o build/app build/parser.o"),
        ("/opt/homebrew/bin/python3", "python3 -c import django"),
        ("/usr/bin/git", "git rev-parse HEAD"),
        ("/bin/sh", "sh -c ./manage.py check"),
    ),
}
MONITORING: tuple[tuple[str, str], ...] = (
    ("/usr/bin/sh", "/bin/sh -c /usr/local/bin/check_health.sh"),
    ("/usr/bin/curl", "curl -fsS -m 5 http://127.0.0.1:8080/healthz"),
    ("/usr/bin/awk", "awk /MemAvailable/ {print $2} /proc/meminfo"),
)
CRON_COMMANDS: tuple[tuple[str, str], ...] = (
    ("/usr/bin/run-parts", "run-parts --report /etc/cron.hourly"),
    ("/usr/bin/logrotate", "/usr/sbin/logrotate /etc/logrotate.conf"),
    ("/usr/bin/find", "find /tmp -mtime +7 -delete"),
    ("/usr/bin/debian-sa1", "/usr/lib/sysstat/debian-sa1 1 1"),
)

OS_VERSIONS: dict[str, tuple[OsInfo, OsInfo]] = {
    "linux": (
        OsInfo(
            "Ubuntu",
            "22.04.4 LTS (Jammy Jellyfish)",
            22,
            4,
            0,
            "",
            "ubuntu",
            "debian",
            "jammy",
            "x86_64",
        ),
        OsInfo(
            "Ubuntu",
            "22.04.5 LTS (Jammy Jellyfish)",
            22,
            4,
            0,
            "",
            "ubuntu",
            "debian",
            "jammy",
            "x86_64",
        ),
    ),
    "darwin": (
        OsInfo("macOS", "14.4.1", 14, 4, 1, "23E224", "darwin", "darwin", "", "arm64"),
        OsInfo("macOS", "14.5", 14, 5, 0, "23F79", "darwin", "darwin", "", "arm64"),
    ),
    "windows": (
        OsInfo(
            "Microsoft Windows 11 Enterprise",
            "10.0.22631",
            10,
            0,
            0,
            "22631",
            "windows",
            "windows",
            "Microsoft Windows 11 Enterprise",
            "64-bit",
        ),
        OsInfo(
            "Microsoft Windows 11 Enterprise",
            "10.0.22631",
            10,
            0,
            0,
            "22631.3737",
            "windows",
            "windows",
            "Microsoft Windows 11 Enterprise",
            "64-bit",
        ),
    ),
}

LINUX_HUBS: tuple[UsbDevice, ...] = (
    UsbDevice(
        1,
        0,
        "Linux Foundation",
        "1d6b",
        "6.08",
        "2.0 root hub",
        "0002",
        "0000:00:14.0",
        "9",
        "0",
        "1",
        "0",
    ),
    UsbDevice(
        1,
        0,
        "Linux Foundation",
        "1d6b",
        "6.08",
        "3.0 root hub",
        "0003",
        "0000:00:14.0",
        "9",
        "0",
        "3",
        "0",
    ),
)
LINUX_LAPTOP_USB: tuple[UsbDevice, ...] = (
    UsbDevice(
        2,
        5,
        "Chicony Electronics Co., Ltd",
        "04f2",
        "0.12",
        "Integrated Camera",
        "b6ea",
        "0001",
        "239",
        "2",
        "1",
        "0",
    ),
    UsbDevice(
        3, 10, "Intel Corp.", "8087", "0.00", "AX201 Bluetooth", "0026", "", "224", "1", "1", "0"
    ),
)
DARWIN_USB: tuple[UsbDevice, ...] = (
    UsbDevice(
        0, 0, "Apple Inc.", "05ac", "0.00", "AppleUSB20XHCIPort", "8104", "", "9", "0", "0", "0"
    ),
    UsbDevice(1, 1, "Apple Inc.", "05ac", "1.00", "USB3.1 Hub", "1460", "", "9", "0", "3", "0"),
)
USB_DRIVES: tuple[UsbDrive, ...] = (
    UsbDrive("SanDisk", "0781", "Cruzer Blade", "5567", "", "1.00", 7_812_608, "USB"),
    UsbDrive("Kingston", "0951", "DataTraveler 3.0", "1666", "", "1.10", 15_126_528, "USB"),
    UsbDrive("Generic", "058f", "Mass Storage Device", "6387", "", "1.03", 3_932_160, "USB"),
    UsbDrive("Samsung", "090c", "Flash Drive FIT", "1000", "", "11.00", 31_266_816, "USB"),
)
USB_FILES = (
    "report-q3.pdf",
    "payroll.xlsx",
    "IMG_4711.JPG",
    "backup.tar.gz",
    "notes.txt",
    "customers.csv",
    "slides.key",
)
