"""Texts of the status page in English and Vietnamese (``[monitor] language``).

One table, one row per text, so a missing translation is a visible gap in a
row rather than a key missing from one of two dictionaries; a unit test
checks that every row has both. Texts with ``{name}`` fields are formatted
with ``str.format`` before they reach a template, which escapes them.
The same texts go to the page's script (as JSON), so labels it writes after a
refresh are in the page's language too.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

LANGUAGES = ("en", "vi")

# key: (English, Vietnamese)
_TEXTS: dict[str, tuple[str, str]] = {
    # States, as the API names them.
    "state.up": ("Up", "Đang hoạt động"),
    "state.down": ("Down", "Mất kết nối"),
    "state.unreachable": ("Unreachable", "Không thể truy cập"),
    "state.flapping": ("Flapping", "Chập chờn"),
    "state.maintenance": ("Maintenance", "Bảo trì"),
    "state.unknown": ("Unknown", "Không rõ"),
    "state.isolated": ("Isolated", "Cô lập"),
    # Page furniture.
    "title": ("Continuity status", "Trạng thái liên tục dịch vụ"),
    "targets": ("Targets", "Đối tượng giám sát"),
    "target": ("Target", "Đối tượng"),
    "address": ("Address", "Địa chỉ"),
    "state": ("State", "Trạng thái"),
    "since": ("Since", "Từ lúc"),
    "for": ("for {duration}", "đã {duration}"),
    "availability": ("Availability", "Độ khả dụng"),
    "availability.1h": ("1 h", "1 giờ"),
    "availability.24h": ("24 h", "24 giờ"),
    "availability.7d": ("7 d", "7 ngày"),
    "availability.30d": ("30 d", "30 ngày"),
    "reason": ("Reason", "Nguyên nhân"),
    "province": ("Province", "Tỉnh"),
    "site": ("Site", "Trạm"),
    "no_province": ("No province", "Chưa có tỉnh"),
    "no_site": ("No site", "Chưa có trạm"),
    "search": ("Search", "Tìm kiếm"),
    "search.placeholder": (
        "Name, address, site, province, reason…",
        "Tên, địa chỉ, trạm, tỉnh, nguyên nhân…",
    ),
    "filter.states": ("Show states", "Hiện trạng thái"),
    "filter.problems": ("Problems only", "Chỉ sự cố"),
    "filter.all": ("All", "Tất cả"),
    "shown": ("{shown} of {total} targets shown", "Đang hiện {shown}/{total} đối tượng"),
    "nothing_shown": (
        "No target matches the search and state filters.",
        "Không có đối tượng nào khớp với tìm kiếm và bộ lọc.",
    ),
    "updated": ("Updated {time}", "Cập nhật lúc {time}"),
    "stale": (
        "Cannot reach the monitor: shown data is from {time}",
        "Không liên lạc được với máy giám sát: dữ liệu hiển thị từ {time}",
    ),
    "isolated_banner": (
        "The monitor itself seems cut off: failing targets are shown as isolated "
        "and no outages are opened until it is connected again.",
        "Máy giám sát dường như bị cô lập: các đối tượng lỗi được hiển thị là cô lập "
        "và không mở sự cố mới cho đến khi kết nối lại.",
    ),
    "reload_failed": (
        "The configuration file was refused at {time}; the monitor runs on with the "
        "previous one until a reload succeeds:",
        "Tệp cấu hình bị từ chối lúc {time}; máy giám sát tiếp tục chạy với cấu hình cũ "
        "cho đến khi nạp lại thành công:",
    ),
    # Banner.
    "outages.active": ("Active outages", "Sự cố đang diễn ra"),
    "alerts.active": ("Active alerts", "Cảnh báo đang hoạt động"),
    "alerts.none": ("No active alert.", "Không có cảnh báo nào đang hoạt động."),
    "all_clear": (
        "No active outages or alerts.",
        "Không có sự cố hay cảnh báo nào đang diễn ra.",
    ),
    "and_more": ("and {count} more", "và {count} mục khác"),
    "muted": ("muted", "đã tắt tiếng"),
    "notified": ("notified", "đã thông báo"),
    # Reasons.
    "reason.parent": ("parent {parent} is down", "thiết bị cha {parent} mất kết nối"),
    "reason.maintenance": ("in a maintenance window", "đang trong lịch bảo trì"),
    "reason.flapping": (
        "changing state too often",
        "thay đổi trạng thái quá thường xuyên",
    ),
    "reason.isolated": (
        "checks fail while the monitor is cut off",
        "kiểm tra lỗi trong khi máy giám sát bị cô lập",
    ),
    "reason.pending": ("no result yet", "chưa có kết quả"),
    # Target page.
    "back": ("All targets", "Tất cả đối tượng"),
    "checks": ("Checks", "Kiểm tra"),
    "check": ("Check", "Kiểm tra"),
    "last_result": ("Last result", "Kết quả gần nhất"),
    "result.ok": ("OK", "Đạt"),
    "result.failed": ("Failed", "Lỗi"),
    "message": ("Message", "Thông điệp"),
    "duration": ("Duration", "Thời lượng"),
    "at": ("At", "Lúc"),
    "measurements": ("Measurements", "Số đo"),
    "outages.recent": ("Recent outages", "Sự cố gần đây"),
    "outages.none": ("No outages recorded.", "Chưa ghi nhận sự cố nào."),
    "start": ("Start", "Bắt đầu"),
    "end": ("End", "Kết thúc"),
    "ongoing": ("ongoing", "đang diễn ra"),
    "cause": ("Cause", "Nguyên nhân"),
    "dependencies": ("Dependencies", "Phụ thuộc"),
    "parents": ("Parents (it depends on)", "Thiết bị cha (phụ thuộc vào)"),
    "children": ("Children (depend on it)", "Thiết bị con (phụ thuộc vào nó)"),
    "none": ("None", "Không có"),
    "location": ("Location", "Vị trí"),
    "contact": ("Contact", "Liên hệ"),
    "coordinates": ("Coordinates", "Tọa độ"),
    "map": ("Open map", "Xem bản đồ"),
    "no_location": ("No location configured.", "Chưa cấu hình vị trí."),
    "labels": ("Labels", "Nhãn"),
    "figures": ("Continuity", "Tính liên tục"),
    "outages_total": ("Outages (all time)", "Số sự cố (từ trước đến nay)"),
    "downtime_total": ("Downtime (all time)", "Tổng thời gian gián đoạn"),
    "mttr": ("Mean time to repair (30 d)", "Thời gian khắc phục trung bình (30 ngày)"),
    "mtbf": ("Mean time between failures (30 d)", "Thời gian trung bình giữa hai sự cố (30 ngày)"),
    "silences": ("Silences", "Tắt tiếng cảnh báo"),
    "silences.none": ("No silence covers this target.", "Không có lệnh tắt tiếng nào áp dụng."),
    "maintenance": ("Maintenance windows", "Lịch bảo trì"),
    "maintenance.none": (
        "No maintenance window covers this target.",
        "Không có lịch bảo trì nào áp dụng.",
    ),
    "matchers": ("Matchers", "Điều kiện"),
    "window": ("Window", "Khung giờ"),
    "active": ("active now", "đang áp dụng"),
    "inactive": ("not active", "chưa áp dụng"),
    "by": ("By", "Người tạo"),
    "comment": ("Comment", "Ghi chú"),
    "every": ("every {weekday} at {at} for {duration}", "mỗi {weekday} lúc {at} trong {duration}"),
    "not_found": ("No target is named {name}.", "Không có đối tượng nào tên {name}."),
    # Units of durations (short, as a NOC screen shows them).
    "unit.s": ("s", "giây"),
    "unit.min": ("min", "phút"),
    "unit.h": ("h", "giờ"),
    "unit.d": ("d", "ngày"),
}


def texts(language: str) -> Mapping[str, str]:
    """Every text in ``language`` (``en`` for anything else), read-only."""
    column = LANGUAGES.index(language) if language in LANGUAGES else 0
    return MappingProxyType({key: pair[column] for key, pair in _TEXTS.items()})


def missing_translations() -> list[str]:
    """Keys with an empty text in some language (a test keeps this empty)."""
    return [key for key, pair in _TEXTS.items() if not all(text.strip() for text in pair)]
