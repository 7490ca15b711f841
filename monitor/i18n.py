"""Every text a person reads, in English and Vietnamese (``[monitor] language``).

The status page, alert texts (``alerts.templates``), the ``report`` and the
CLI take their words from here: alert names as titles, severities, the
reasons of failed checks, page furniture. Machine fields (label values,
``alertname`` in JSON, reason codes in the API) stay as they are.

One table, one row per text, so a missing translation is a visible gap in a
row rather than a key missing from one of two dictionaries; a unit test
checks that every row has both. Texts with ``{name}`` fields are formatted
with ``str.format`` before they reach a template, which escapes them.
The same texts go to the page's script (as JSON), so labels it writes after a
refresh are in the page's language too.
"""

from __future__ import annotations

import re
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
    "availability.observed": ("since {time} ({duration})", "từ {time} ({duration})"),
    "availability.since": ("since {time}", "từ {time}"),
    "cause.check": ("its own checks failed", "kiểm tra của chính nó lỗi"),
    "cause.checks": ("failed checks: {checks}", "kiểm tra lỗi: {checks}"),
    "reason": ("Reason", "Lý do"),
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
    "path": ("Path", "Đường truyền"),
    "path.diagnosis": ("At the outage", "Khi sự cố"),
    "path.baseline": ("Baseline path (while up)", "Đường truyền chuẩn (khi hoạt động)"),
    "path.none": ("No path traced yet", "Chưa dò đường truyền"),
    "path.hop": ("Hop", "Chặng"),
    "path.silent": ("no answer", "không trả lời"),
    "smoke.title": ("Latency and loss", "Độ trễ và mất gói"),
    "smoke.range": ("Range", "Khoảng thời gian"),
    "smoke.none": ("No measurements in this range yet.", "Chưa có số đo trong khoảng này."),
    "smoke.legend": (
        "Pale: min-max; dark: 10-90 %; line: median, coloured by loss; red shade: outage.",
        "Nhạt: min-max; đậm: 10-90 %; đường: trung vị, màu theo mất gói; nền đỏ: sự cố.",
    ),
    "smoke.loss": ("Loss", "Mất gói"),
    "smoke.last": (
        "{time}: median {p50}, p10-p90 {p10}-{p90}, loss {lost}/{sent}",
        "{time}: trung vị {p50}, p10-p90 {p10}-{p90}, mất {lost}/{sent} gói",
    ),
    "smoke.last_loss": ("{time}: loss {lost}/{sent}", "{time}: mất {lost}/{sent} gói"),
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
    "number.decimal": (".", ","),  # the decimal mark of measurements
    "unit.min": ("min", "phút"),
    "unit.h": ("h", "giờ"),
    "unit.d": ("d", "ngày"),
    # Incidents: a root cause and the targets out because of it (issue 12).
    "incidents.active": ("Ongoing incidents", "Sự cố đang diễn ra"),
    "incidents.affected": ("{count} targets affected", "{count} đối tượng bị ảnh hưởng"),
    "incidents.affected_one": ("1 target affected", "1 đối tượng bị ảnh hưởng"),
    "incident.behind": (
        "{count} targets behind it unreachable: {names}",
        "{count} đối tượng phía sau không truy cập được: {names}",
    ),
    "incident.behind_one": (
        "1 target behind it unreachable: {names}",
        "1 đối tượng phía sau không truy cập được: {names}",
    ),
    "incident.show": ("show the targets behind it", "xem các đối tượng phía sau"),
    "reason.maintenance_via": ("in maintenance (via {parent})", "đang bảo trì (qua {parent})"),
    "incident": ("Incident", "Sự cố"),
    "role.root_cause": ("Root cause: it fails on its own.", "Nguyên nhân gốc: tự nó bị lỗi."),
    "role.root_cause_one": (
        "Root cause: 1 target is out because of it.",
        "Nguyên nhân gốc: 1 đối tượng bị ảnh hưởng vì nó.",
    ),
    "role.root_cause_of": (
        "Root cause: {count} targets are out because of it.",
        "Nguyên nhân gốc: {count} đối tượng bị ảnh hưởng vì nó.",
    ),
    "role.consequence": (
        "Consequence: out because a target it depends on is out.",
        "Hệ quả: không truy cập được vì thiết bị nó phụ thuộc bị lỗi.",
    ),
    "root_cause": ("Root cause", "Nguyên nhân gốc"),
    "consequences": ("Out because of it", "Bị ảnh hưởng vì nó"),
    "muted.why": ("Alerts held back", "Cảnh báo đang bị giữ lại"),
    "muted.maintenance": ("in a maintenance window", "đang trong lịch bảo trì"),
    "muted.maintenance_via": ("in maintenance (via {parent})", "đang bảo trì (qua {parent})"),
    "muted.isolated": ("the monitor is cut off", "máy giám sát bị cô lập"),
    "muted.recheck": (
        "re-checking after its parent recovered",
        "đang kiểm tra lại sau khi thiết bị cha phục hồi",
    ),
    "via": ("via {parent}", "qua {parent}"),
    # Uptime bars (monitor/web/uptime_view.py).
    "bars": ("90 days · 48 hours", "90 ngày · 48 giờ"),
    "bars.help": (
        "One bar per day, then one per hour; hover or tap for the figure and the outages",
        "Mỗi cột một ngày, rồi mỗi cột một giờ; di chuột hoặc chạm để xem số liệu và sự cố",
    ),
    "bars.days": ("90 d", "90 ngày"),
    "bars.hours": ("48 h", "48 giờ"),
    "bars.figure": ("{when}: {figure}", "{when}: {figure}"),
    "bars.down": ("down {duration}", "gián đoạn {duration}"),
    "bars.outage": (
        "outage {start} \u2013 {end} ({duration})",
        "sự cố {start} \u2013 {end} ({duration})",
    ),
    "bars.unseen": ("not yet observed", "chưa được giám sát"),
    "bars.gap": (
        "not observed (monitor stopped or cut off, or maintenance)",
        "không có dữ liệu (máy giám sát dừng hoặc bị cô lập, hoặc đang bảo trì)",
    ),
}


# Alert names (the ``alertname`` label) as titles people read; rules an operator
# names in config keep their own name.
_TEXTS.update(
    {
        "alertname.TargetDown": ("Target down", "Mất kết nối"),
        "alertname.TargetUnreachable": ("Target unreachable", "Không thể truy cập"),
        "alertname.TargetFlapping": ("Target flapping", "Kết nối chập chờn"),
        "alertname.MonitorIsolated": ("Monitor cut off", "Máy giám sát bị cô lập"),
        "alertname.InterfaceDown": ("Interface down", "Cổng mạng mất kết nối"),
        "alertname.InterfaceUp": ("Interface up again", "Cổng mạng hoạt động lại"),
        "alertname.DeviceRebooted": ("Device restarted", "Thiết bị khởi động lại"),
        "alertname.OnBattery": ("Running on battery", "Đang chạy bằng ắc quy"),
        "alertname.BatteryLow": ("Battery low", "Ắc quy yếu"),
        "alertname.PowerRestored": ("Mains power back", "Đã có điện lưới trở lại"),
        "alertname.CertificateExpiring": ("Certificate expiring", "Chứng chỉ sắp hết hạn"),
        "alertname.SLOBurnFast": ("Error budget burning fast", "Ngân sách lỗi tiêu hao nhanh"),
        "alertname.SLOBurnSlow": ("Error budget burning", "Ngân sách lỗi đang tiêu hao"),
        # Durations in alert texts (coarse: ``1h 2m``).
        "span.d": ("{n}d", "{n} ngày"),
        "span.h": ("{n}h", "{n} giờ"),
        "span.m": ("{n}m", "{n} phút"),
        "span.s": ("{n}s", "{n} giây"),
        # Severities and notification states.
        "severity.critical": ("critical", "nghiêm trọng"),
        "severity.warning": ("warning", "cảnh báo"),
        "severity.info": ("info", "thông tin"),
        "status.firing": ("FIRING", "CẢNH BÁO"),
        "status.resolved": ("RESOLVED", "ĐÃ KHẮC PHỤC"),
        # Reasons of a failed check (ProbeResult.reason codes).
        "why.ok": ("passed", "bình thường"),
        "why.timeout": ("timed out", "hết thời gian chờ"),
        "why.down": ("not responding", "mất kết nối"),
        "why.loss": ("packet loss", "mất gói tin"),
        "why.unreachable": ("destination unreachable", "không tới được đích"),
        "why.ttl_exceeded": ("TTL exceeded", "vượt quá TTL"),
        "why.address_family": ("no such address family", "không hỗ trợ họ địa chỉ"),
        "why.send_error": ("send failed", "gửi gói tin thất bại"),
        "why.dns": ("name lookup failed", "phân giải tên thất bại"),
        "why.connect_refused": ("connection refused", "kết nối bị từ chối"),
        "why.connect_error": ("cannot connect", "không kết nối được"),
        "why.disconnected": ("connection lost", "kết nối bị ngắt"),
        "why.network_error": ("network error", "lỗi mạng"),
        "why.protocol_error": ("protocol error", "lỗi giao thức"),
        "why.invalid_url": ("invalid URL", "URL không hợp lệ"),
        "why.server_address": ("bad server address", "địa chỉ máy chủ sai"),
        "why.tls_error": ("TLS error", "lỗi TLS"),
        "why.tls_config": ("TLS settings", "lỗi cấu hình TLS"),
        "why.tls_verify": ("certificate not trusted", "chứng chỉ không tin cậy"),
        "why.tls_hostname": ("certificate name mismatch", "tên chứng chỉ không khớp"),
        "why.tls_expired": ("certificate expired", "chứng chỉ đã hết hạn"),
        "why.status": ("unexpected HTTP status", "mã trạng thái HTTP không mong đợi"),
        "why.body_mismatch": ("unexpected content", "nội dung không khớp"),
        "why.json_invalid": ("not valid JSON", "JSON không hợp lệ"),
        "why.json_mismatch": ("unexpected JSON value", "giá trị JSON không khớp"),
        "why.expect_mismatch": ("unexpected reply", "phản hồi không khớp"),
        "why.rcode": ("DNS error code", "mã lỗi DNS"),
        "why.too_few_answers": ("too few answers", "quá ít bản ghi trả lời"),
        "why.answer_mismatch": ("unexpected answer", "bản ghi trả lời không khớp"),
        "why.agent_error": ("SNMP agent error", "lỗi từ thiết bị SNMP"),
        "why.no_such_object": ("no such SNMP object", "không có đối tượng SNMP"),
        "why.bad_value": ("bad SNMP value", "giá trị SNMP sai"),
        "why.decode_error": ("undecodable reply", "không giải mã được phản hồi"),
        "why.auth": ("authentication failed", "xác thực thất bại"),
        "why.unknown_user": ("unknown SNMP user", "người dùng SNMP không tồn tại"),
        "why.decrypt": ("decryption failed", "giải mã thất bại"),
        "why.security": ("SNMP security error", "lỗi bảo mật SNMP"),
        "why.value_error": ("value out of range", "giá trị ngoài ngưỡng"),
        "why.too_many_redirects": ("too many redirects", "chuyển hướng quá nhiều lần"),
        "why.body_too_large": ("reply too large", "phản hồi quá lớn"),
        "why.local_resources": (
            "no socket or buffer left on the monitor",
            "máy giám sát hết socket hoặc bộ đệm",
        ),
        # Measurements (ProbeResult.values) on the target page.
        "value.packet_loss_ratio": ("packet loss", "tỷ lệ mất gói"),
        "value.packets_sent": ("packets sent", "gói đã gửi"),
        "value.packets_received": ("packets received", "gói đã nhận"),
        "value.rtt_min_seconds": ("RTT min", "RTT nhỏ nhất"),
        "value.rtt_avg_seconds": ("RTT avg", "RTT trung bình"),
        "value.rtt_max_seconds": ("RTT max", "RTT lớn nhất"),
        "value.jitter_seconds": ("jitter", "độ dao động trễ"),
        "value.status_code": ("HTTP status", "mã trạng thái HTTP"),
        "value.content_length_bytes": ("content length", "dung lượng nội dung"),
        "value.redirects": ("redirects", "số lần chuyển hướng"),
        "value.connection_reused": ("connection reused", "dùng lại kết nối"),
        "value.phase_dns_seconds": ("DNS time", "thời gian phân giải tên"),
        "value.phase_connect_seconds": ("connect time", "thời gian kết nối"),
        "value.phase_tls_seconds": ("TLS time", "thời gian bắt tay TLS"),
        "value.phase_first_byte_seconds": ("time to first byte", "thời gian tới byte đầu"),
        "value.phase_total_seconds": ("total time", "tổng thời gian"),
        "value.cert_days_left": ("certificate days left", "số ngày chứng chỉ còn hạn"),
        "value.lookup_seconds": ("lookup time", "thời gian tra cứu"),
        "value.answers": ("answers", "số bản ghi trả lời"),
        "value.uptime_seconds": ("uptime", "thời gian hoạt động"),
    }
)


# The availability report (``continuity-monitor report``, Markdown and HTML).
_TEXTS.update(
    {
        "report.title": ("Availability report", "Báo cáo độ khả dụng"),
        "report.title_period": (
            "Availability report: {since} to {until}",
            "Báo cáo độ khả dụng: từ {since} đến {until}",
        ),
        "report.instance": ("Instance", "Máy giám sát"),
        "report.period": ("Period", "Kỳ báo cáo"),
        "report.end_excluded": ("the end is not included", "không tính thời điểm kết thúc"),
        "report.grouped_by": ("Grouped by", "Nhóm theo"),
        "report.no_grouping": ("nothing (all targets)", "không nhóm (mọi đối tượng)"),
        "report.observed_until": ("History observed until", "Lịch sử được ghi nhận đến"),
        "report.mode_label": (
            "Outages, downtime, MTTR, MTBF, longest outage",
            "Sự cố, thời gian gián đoạn, MTTR, MTBF, sự cố dài nhất",
        ),
        "report.mode_label_short": (
            "Outages, downtime, MTTR, MTBF",
            "Sự cố, thời gian gián đoạn, MTTR, MTBF",
        ),
        "report.generated": ("Generated", "Thời điểm lập"),
        "report.note": ("Note", "Lưu ý"),
        "report.mode.counted": (
            "maintenance counted ([monitor] count_maintenance = true)",
            "có tính thời gian bảo trì ([monitor] count_maintenance = true)",
        ),
        "report.mode.excluded": (
            "maintenance excluded ([monitor] count_maintenance = false)",
            "không tính thời gian bảo trì ([monitor] count_maintenance = false)",
        ),
        "report.summary": ("Summary", "Tổng hợp"),
        "report.not_in_config": ("(not in config)", "(không còn trong cấu hình)"),
        "report.all_targets": ("all targets", "mọi đối tượng"),
        "report.no_label": ("(no {label})", "(chưa có nhãn {label})"),
        "report.total": ("Total", "Tổng cộng"),
        "report.group": ("Group", "Nhóm"),
        "report.targets": ("Targets", "Số đối tượng"),
        "report.target": ("Target", "Đối tượng"),
        "report.observed": ("Observed", "Thời gian ghi nhận"),
        "report.col.avail_without": ("Avail. without maint.", "Khả dụng (trừ bảo trì)"),
        "report.col.avail_with": ("Avail. with maint.", "Khả dụng (gồm bảo trì)"),
        "report.col.outages": ("Outages", "Số sự cố"),
        "report.col.downtime": ("Downtime", "Thời gian gián đoạn"),
        "report.col.mttr": ("MTTR", "MTTR (khắc phục TB)"),
        "report.col.mtbf": ("MTBF", "MTBF (giữa hai sự cố TB)"),
        "report.col.longest": ("Longest outage", "Sự cố dài nhất"),
        "report.outages_of": ("Outages: {group}", "Sự cố: {group}"),
        "report.none": ("None in the period.", "Không có sự cố nào trong kỳ."),
        "report.start": ("Start", "Bắt đầu"),
        "report.end": ("End", "Kết thúc"),
        "report.downtime_in_period": ("Downtime in period", "Gián đoạn trong kỳ"),
        "report.check": ("Check", "Kiểm tra"),
        "report.cause": ("Cause", "Nguyên nhân"),
        "report.reason": ("Reason", "Lý do"),
        "report.reason_message": ("Reason / message", "Lý do / thông điệp"),
        "report.message": ("Message", "Thông điệp"),
        "report.notes": ("Notes", "Ghi chú"),
        "report.open": ("open", "đang diễn ra"),
        "report.no_data": ("no data", "chưa có dữ liệu"),
        "report.definitions": ("Definitions", "Định nghĩa"),
        "report.chart.counted": ("maintenance counted", "có tính bảo trì"),
        "report.chart.excluded": ("maintenance excluded", "không tính bảo trì"),
        "report.chart.caption": (
            "Availability ({what}), axis from {floor}% to 100%",
            "Độ khả dụng ({what}), trục từ {floor}% đến 100%",
        ),
        "report.chart.least": (
            "; the {shown} least available of {total} targets",
            "; {shown} đối tượng kém khả dụng nhất trong {total}",
        ),
        "report.note.before": ("began before the period", "bắt đầu trước kỳ báo cáo"),
        "report.note.open": ("still open", "vẫn đang diễn ra"),
        "report.note.after": ("ended after the period", "kết thúc sau kỳ báo cáo"),
        "report.note.unobserved_all": (
            "not observed (monitor stopped or isolated): not counted",
            "không được ghi nhận (máy giám sát dừng hoặc bị cô lập): không tính",
        ),
        "report.note.maintenance_all": (
            "in maintenance: not counted",
            "trong lịch bảo trì: không tính",
        ),
        "report.note.in_maintenance": ("{duration} in maintenance", "{duration} trong bảo trì"),
        "report.note.unobserved": ("{duration} not observed", "{duration} không được ghi nhận"),
        "report.notice.one": (
            "1 target with outages in the period is in the history but no longer in the "
            'configuration: it is listed under "(not in config)". The history does not record '
            "when a target was removed, so its observed time runs to the end of the period and "
            "its availability may be overstated.",
            "1 đối tượng có sự cố trong kỳ vẫn còn trong lịch sử nhưng không còn trong cấu "
            'hình: nó được liệt kê ở mục "(không còn trong cấu hình)". Lịch sử không ghi lại '
            "thời điểm đối tượng bị gỡ, nên thời gian ghi nhận của nó kéo dài đến hết kỳ "
            "và độ khả dụng có thể bị tính cao hơn thực tế.",
        ),
        "report.notice.many": (
            "{count} targets with outages in the period are in the history but no longer in "
            'the configuration: they are listed under "(not in config)". The history does not '
            "record when a target was removed, so their observed time runs to the end of the "
            "period and their availability may be overstated.",
            "{count} đối tượng có sự cố trong kỳ vẫn còn trong lịch sử nhưng không còn trong "
            'cấu hình: chúng được liệt kê ở mục "(không còn trong cấu hình)". Lịch sử không '
            "ghi lại thời điểm đối tượng bị gỡ, nên thời gian ghi nhận của chúng kéo dài đến "
            "hết kỳ và độ khả dụng có thể bị tính cao hơn thực tế.",
        ),
        "report.def.observed": (
            "Observed time: when the monitor ran, minus its isolation periods, from the "
            "target's first observation on, minus maintenance unless it is counted.",
            "Thời gian ghi nhận: khi máy giám sát chạy, trừ các khoảng bị cô lập, kể từ lần "
            "đầu ghi nhận đối tượng, trừ thời gian bảo trì nếu không tính bảo trì.",
        ),
        "report.def.downtime": (
            "Downtime: the part of the outages in observed time inside the period (an outage "
            "crossing a boundary counts only its part inside).",
            "Thời gian gián đoạn: phần của các sự cố nằm trong thời gian ghi nhận và trong kỳ "
            "(sự cố vắt qua ranh giới kỳ chỉ tính phần bên trong).",
        ),
        "report.def.availability": (
            "Availability: 1 - downtime / observed time; groups pool their targets (summed "
            "downtime over summed observed time). With maintenance: maintenance time is "
            "observed and an outage in it is downtime; without: maintenance time is left out.",
            "Độ khả dụng: 1 - thời gian gián đoạn / thời gian ghi nhận; nhóm gộp các đối tượng "
            "(tổng gián đoạn trên tổng thời gian ghi nhận). Gồm bảo trì: thời gian bảo trì "
            "được ghi nhận và sự cố trong đó là gián đoạn; trừ bảo trì: bỏ thời gian bảo trì.",
        ),
        "report.def.outages": (
            "Outages: outages with downtime that started in the period.",
            "Số sự cố: các sự cố có gián đoạn, bắt đầu trong kỳ.",
        ),
        "report.def.mttr": (
            "MTTR: mean downtime of the outages that ended in the period, each whole.",
            "MTTR: thời gian gián đoạn trung bình của các sự cố kết thúc trong kỳ (tính trọn).",
        ),
        "report.def.mtbf": (
            "MTBF: observed up time in the period / outages.",
            "MTBF: thời gian hoạt động được ghi nhận trong kỳ / số sự cố.",
        ),
        "report.def.longest": (
            "Longest outage: the most downtime inside the period.",
            "Sự cố dài nhất: sự cố có thời gian gián đoạn trong kỳ lớn nhất.",
        ),
        "report.def.incident": (
            "Incident: one root cause's outage with the outages of the targets out because of "
            "it (cause parent:NAME, through any number of levels), dated from the root cause's "
            "start; counted when it started in the period with downtime. Affected targets: the "
            "distinct targets of the counted incidents. A cut router with five sites behind it "
            "is 1 incident and 6 targets affected, while each target's own figures still count "
            "its outage.",
            "Sự cố gốc: sự cố của một nguyên nhân gốc cùng các sự cố của những đối tượng mất "
            "liên lạc vì nó (nguyên nhân parent:TÊN, qua bất kỳ số cấp nào), tính từ lúc nguyên "
            "nhân gốc bắt đầu; được đếm khi bắt đầu trong kỳ và có gián đoạn. Đối tượng bị ảnh "
            "hưởng: các đối tượng khác nhau của những sự cố gốc được đếm. Một bộ định tuyến bị "
            "cắt với năm trạm phía sau là 1 sự cố gốc và 6 đối tượng bị ảnh hưởng, trong khi số "
            "liệu riêng của mỗi đối tượng vẫn tính sự cố của nó.",
        ),
        "report.col.incidents": ("Incidents", "Sự cố gốc"),
        "report.incident_one": ("{count} incident", "{count} sự cố gốc"),
        "report.incident_many": ("{count} incidents", "{count} sự cố gốc"),
        "report.affected_one": ("{count} target affected", "{count} đối tượng bị ảnh hưởng"),
        "report.affected_many": ("{count} targets affected", "{count} đối tượng bị ảnh hưởng"),
        "report.behind_one": (
            "{count} target behind it unreachable",
            "{count} đối tượng phía sau mất liên lạc",
        ),
        "report.behind_many": (
            "{count} targets behind it unreachable",
            "{count} đối tượng phía sau mất liên lạc",
        ),
        "report.not_counted_before": (
            "not counted: began before the period",
            "không tính: bắt đầu trước kỳ báo cáo",
        ),
        "report.not_counted_downtime": (
            "not counted: no downtime counted",
            "không tính: không có thời gian gián đoạn được tính",
        ),
        "report.from_to": ("{start} to {end}", "{start} đến {end}"),
        "report.consequence_line": (
            "{target} ({cause}), until {end}, {downtime} in period",
            "{target} ({cause}), đến {end}, gián đoạn {downtime} trong kỳ",
        ),
        "report.col.affected": ("Targets affected", "Đối tượng bị ảnh hưởng"),
        # Durations in the report: at most three units, the largest first.
        "report.span.s": ("{s}s", "{s} giây"),
        "report.span.ms": ("{m}m {s:02d}s", "{m} phút {s:02d} giây"),
        "report.span.hms": ("{h}h {m:02d}m {s:02d}s", "{h} giờ {m:02d} phút {s:02d} giây"),
        "report.span.dhm": ("{d}d {h:02d}h {m:02d}m", "{d} ngày {h:02d} giờ {m:02d} phút"),
    }
)


# Time to dark: the status page's power board and SiteGoingDark (issue 15).
_TEXTS.update(
    {
        "alertname.SiteGoingDark": ("Site going dark", "Trạm sắp mất điện"),
        "power.title": ("Power: sites on battery", "Nguồn điện: trạm đang chạy ắc quy"),
        "power.site": ("Site", "Trạm"),
        "power.left": ("Time left", "Thời gian còn lại"),
        "power.dark_at": ("Goes dark at", "Dự kiến mất điện lúc"),
        "power.by": ("Estimated from", "Ước tính theo"),
        "power.charge": ("Charge", "Dung lượng"),
        "power.behind": ("Goes dark with it", "Mất điện theo"),
        "power.on_battery_for": ("on battery for {duration}", "chạy ắc quy đã {duration}"),
        "power.method.device": ("device's runtime", "thời gian thiết bị báo"),
        "power.method.trend": ("discharge trend", "xu hướng xả pin"),
        "power.unknown": ("estimating…", "đang ước tính…"),
        "power.overdue": ("overdue by {duration}", "đã quá {duration}"),
        "power.in": ("in {duration}", "còn {duration}"),
        "power.nothing_behind": ("nothing else", "không có đối tượng khác"),
    }
)

# The command line: ``status``, ``maintenance``/``silence`` and ``probe`` output.
_TEXTS.update(
    {
        "cli.col.target": ("TARGET", "ĐỐI TƯỢNG"),
        "cli.col.state": ("STATE", "TRẠNG THÁI"),
        "cli.col.since": ("SINCE", "TỪ LÚC"),
        "cli.col.cause": ("CAUSE", "NGUYÊN NHÂN"),
        "cli.col.id": ("ID", "MÃ"),
        "cli.col.now": ("NOW", "HIỆN TẠI"),
        "cli.col.targets": ("TARGETS", "ĐỐI TƯỢNG"),
        "cli.col.from": ("FROM", "TỪ"),
        "cli.col.until": ("UNTIL", "ĐẾN"),
        "cli.col.comment": ("COMMENT", "GHI CHÚ"),
        "cli.col.matchers": ("MATCHERS", "ĐIỀU KIỆN"),
        "cli.col.by": ("BY", "NGƯỜI TẠO"),
        "cli.all_up": ("every target is up", "mọi đối tượng đều đang hoạt động"),
        "cli.count": ("{count} targets: {summary}", "{count} đối tượng: {summary}"),
        "cli.isolated": (
            "the monitor itself seems cut off",
            "máy giám sát dường như bị cô lập",
        ),
        "cli.in_maintenance": ("in maintenance", "đang bảo trì"),
        "cli.active": ("active", "đang áp dụng"),
        "cli.error.unreachable": (
            "cannot reach the daemon at {url} ({reason}); is it running? (set --url or {env})",
            "không kết nối được tới dịch vụ tại {url} ({reason}); dịch vụ có đang chạy không?"
            " (đặt --url hoặc {env})",
        ),
        "cli.error.no_token": (
            "no token given by {url}: set [web] api_token in the config, {env} or --token"
            " to the daemon's token",
            "chưa có mã truy cập cho {url}: đặt [web] api_token trong tệp cấu hình, {env}"
            " hoặc --token bằng mã của dịch vụ",
        ),
        "cli.error.bad_token": (
            "the token was refused by {url}: set [web] api_token in the config, {env} or"
            " --token to the daemon's token",
            "{url} từ chối mã truy cập: đặt [web] api_token trong tệp cấu hình, {env} hoặc"
            " --token bằng mã của dịch vụ",
        ),
        "cli.error.basic": (
            "{url} needs basic auth for reads: set {env}=user:password",
            "{url} yêu cầu đăng nhập để đọc: đặt {env}=tên:mật_khẩu",
        ),
        "cli.error.refused": (
            "the daemon refused ({code}): {detail}",
            "dịch vụ từ chối ({code}): {detail}",
        ),
        "cli.error.for_or_until": (
            "give one of --for DURATION (such as 2h) or --until TIME",
            "cho một trong hai: --for THỜI_LƯỢNG (ví dụ 2h) hoặc --until THỜI_ĐIỂM",
        ),
        "cli.error.pair": (
            "{option}: expected NAME=VALUE, got {pair}",
            "{option}: cần dạng TÊN=GIÁ_TRỊ, nhận được {pair}",
        ),
        "cli.error.no_targets": (
            "name at least one TARGET or give --match NAME=VALUE",
            "nêu ít nhất một ĐỐI_TƯỢNG hoặc cho --match TÊN=GIÁ_TRỊ",
        ),
        "cli.error.no_matchers": (
            "give at least one --match NAME=VALUE (such as target=dp-rtr)",
            "cho ít nhất một --match TÊN=GIÁ_TRỊ (ví dụ target=dp-rtr)",
        ),
        "cli.error.config_window": (
            "{id} is written in the config file; edit it there and reload",
            "{id} được khai báo trong tệp cấu hình; hãy sửa ở đó rồi nạp lại",
        ),
        "cli.error.reload_token": (
            "no API token to ask for a reload: set [web] api_token, {env}, or give --pid",
            "không có mã truy cập API để yêu cầu nạp lại: đặt [web] api_token, {env}, hoặc"
            " cho --pid",
        ),
        "cli.error.signal": (
            "cannot signal process {pid}: {reason}",
            "không gửi được tín hiệu tới tiến trình {pid}: {reason}",
        ),
        "cli.maintenance.added": ("maintenance {id} until {until}", "bảo trì {id} đến {until}"),
        "cli.maintenance.ended": ("maintenance {id} ended", "đã kết thúc bảo trì {id}"),
        "cli.maintenance.none": ("no maintenance", "không có lịch bảo trì"),
        "cli.silence.added": ("silence {id} until {until}", "tắt tiếng {id} đến {until}"),
        "cli.silence.expired": ("silence {id} expired", "đã hủy tắt tiếng {id}"),
        "cli.silence.none": ("no silences", "không có lệnh tắt tiếng"),
        "cli.acked": ("alert {fingerprint} acknowledged", "đã xác nhận cảnh báo {fingerprint}"),
        "cli.sighup": (
            "sent SIGHUP to {pid}; without an API token the result is only in the log",
            "đã gửi SIGHUP tới {pid}; không có mã API nên kết quả chỉ có trong nhật ký",
        ),
        "cli.probe.ok": ("OK  ", "ĐẠT "),
        "cli.probe.fail": ("FAIL", "LỖI"),
        "cli.probe.line": (
            "{status} {target} {check}{reason} in {duration}",
            "{status} {target} {check}{reason} trong {duration}",
        ),
        "cli.probe.all_ok": (
            "OK: all {checks} of {targets} passed",
            "ĐẠT: cả {checks} của {targets} đều đạt",
        ),
        "cli.probe.failed": (
            "FAILED: {failed} of {checks} of {targets}: {names}",
            "LỖI: {failed} trên {checks} của {targets}: {names}",
        ),
        "cli.probe.checks_one": ("1 check", "1 kiểm tra"),
        "cli.probe.checks": ("{count} checks", "{count} kiểm tra"),
        "cli.probe.targets_one": ("1 target", "1 đối tượng"),
        "cli.probe.targets": ("{count} targets", "{count} đối tượng"),
    }
)

# The messages of check results (``ProbeResult.message``) as the probes write
# them, in English. The English text is also the pattern that recognises a
# message: ``{name}`` matches one word and is copied (an address, a figure),
# ``{name_raw}`` any text, copied (a reply's excerpt), ``{name_text}`` a part
# that is itself one of these messages, translated in turn. A message no
# pattern knows stays as the probe wrote it where the full message is shown,
# and is left out of one-line summaries in other languages (the reason's words
# say what failed).
_TEXTS.update(
    {
        "lang": ("en", "vi"),
        # icmp (probes.icmp.summarize)
        "msg.replies": (
            "{received}/{sent} replies from {name}",
            "{received}/{sent} gói trả lời từ {name}",
        ),
        "msg.rtt": ("rtt min/avg/max {rtt} ms", "RTT nhỏ nhất/trung bình/lớn nhất {rtt} ms"),
        "msg.rtt_jitter": (
            "rtt min/avg/max {rtt} ms, jitter {jitter} ms",
            "RTT nhỏ nhất/trung bình/lớn nhất {rtt} ms, độ dao động trễ {jitter} ms",
        ),
        "msg.icmp_ok": ("{replies_text}, {rtt_text}", "{replies_text}, {rtt_text}"),
        "msg.icmp_loss": (
            "{replies_text}: loss {loss} above max_loss_ratio {max_loss}, {rtt_text}",
            "{replies_text}: mất {loss} gói, vượt max_loss_ratio {max_loss}, {rtt_text}",
        ),
        "msg.icmp_silent": (
            "{replies_text} within the deadline",
            "{replies_text} trong thời hạn chờ",
        ),
        "msg.icmp_error": ("{replies_text}: {error_text}", "{replies_text}: {error_text}"),
        "msg.icmp_from": ("{icmp_text} (from {sender})", "{icmp_text} (từ {sender})"),
        # ICMP errors (probes.icmp_packet.describe_error)
        "msg.icmp.net": ("network unreachable", "mạng đích không tới được"),
        "msg.icmp.host": ("host unreachable", "máy đích không tới được"),
        "msg.icmp.protocol": ("protocol unreachable", "giao thức không tới được"),
        "msg.icmp.port": ("port unreachable", "cổng không tới được"),
        "msg.icmp.frag": ("fragmentation needed", "cần phân mảnh gói tin"),
        "msg.icmp.source_route": ("source route failed", "định tuyến nguồn thất bại"),
        "msg.icmp.net_unknown": ("destination network unknown", "mạng đích không xác định"),
        "msg.icmp.host_unknown": ("destination host unknown", "máy đích không xác định"),
        "msg.icmp.net_prohibited": (
            "network administratively prohibited",
            "mạng đích bị quản trị chặn",
        ),
        "msg.icmp.host_prohibited": (
            "host administratively prohibited",
            "máy đích bị quản trị chặn",
        ),
        "msg.icmp.net_tos": ("network unreachable for TOS", "mạng đích không tới được với TOS này"),
        "msg.icmp.host_tos": ("host unreachable for TOS", "máy đích không tới được với TOS này"),
        "msg.icmp.prohibited": (
            "communication administratively prohibited",
            "liên lạc bị quản trị chặn",
        ),
        "msg.icmp.no_route": ("no route to destination", "không có tuyến tới đích"),
        "msg.icmp.scope": (
            "beyond scope of source address",
            "ngoài phạm vi của địa chỉ nguồn",
        ),
        "msg.icmp.address": ("address unreachable", "địa chỉ không tới được"),
        "msg.icmp.policy": ("source address failed policy", "địa chỉ nguồn bị chính sách chặn"),
        "msg.icmp.reject": ("reject route to destination", "tuyến tới đích từ chối gói tin"),
        "msg.icmp.hop_limit": (
            "hop limit exceeded in transit",
            "vượt quá giới hạn số chặng trên đường đi",
        ),
        "msg.icmp.ttl": ("time to live exceeded in transit", "hết TTL trên đường đi"),
        "msg.icmp.code": (
            "destination unreachable (code {code})",
            "không tới được đích (mã {code})",
        ),
        # where the path breaks (monitor.paths): the diagnosis as written, in words
        "msg.path.not_traced": (
            "path not traced: {error_text}",
            "không dò được đường truyền: {error_text}",
        ),
        "msg.path.cannot_send": (
            "this monitor cannot send to {address} ({send_text})",
            "máy giám sát không gửi được gói tin tới {address} ({send_text})",
        ),
        "msg.path.no_time": ("no time left", "đã hết thời gian"),
        "msg.path.family_unavailable": (
            "{family} unavailable on this host ({reason_raw})",
            "máy giám sát này không dùng được {family} ({reason_raw})",
        ),
        "msg.path.family_unavailable_bare": (
            "{family} unavailable on this host",
            "máy giám sát này không dùng được {family}",
        ),
        "msg.path.engine_closed": ("the ICMP engine is not open", "bộ máy ICMP chưa mở"),
        "msg.path.complete": (
            "path complete: the target answers at hop {hop} (the path is not what fails)",
            "đường truyền thông suốt: đối tượng trả lời ở chặng {hop}"
            " (sự cố không nằm ở đường truyền)",
        ),
        "msg.path.silent": (
            "path breaks before hop 1: no hop answers (this monitor's own link or first router)",
            "đường truyền đứt trước chặng 1: không chặng nào trả lời"
            " (đường kết nối của chính máy giám sát hoặc bộ định tuyến đầu tiên)",
        ),
        "msg.path.breaks": (
            "path breaks after hop {hop} ({where_part})",
            "đường truyền đứt sau chặng {hop} ({where_part})",
        ),
        "msg.path.breaks_unreachable": (
            "path breaks after hop {hop} ({where_part}), which reports the target unreachable",
            "đường truyền đứt sau chặng {hop} ({where_part}),"
            " thiết bị này báo không tới được đối tượng",
        ),
        "msg.path.no_baseline": (
            "no baseline path recorded yet",
            "chưa ghi được đường truyền chuẩn",
        ),
        "msg.path.changed": (
            "the path changed: hop {hop} was {where_part}",
            "đường truyền đã thay đổi: chặng {hop} trước đây là {where_part}",
        ),
        "msg.path.went_on": (
            "the baseline path went on to hop {hop} ({where_part})",
            "đường truyền chuẩn đi tiếp tới chặng {hop} ({where_part})",
        ),
        "msg.path.went_on_reached": (
            "the baseline path went on to hop {hop} ({where_part})"
            " and reached the target at hop {target_hop}",
            "đường truyền chuẩn đi tiếp tới chặng {hop} ({where_part})"
            " và tới đối tượng ở chặng {target_hop}",
        ),
        "msg.path.reached": (
            "the baseline path reached the target at hop {hop}",
            "đường truyền chuẩn tới đối tượng ở chặng {hop}",
        ),
        # a diagnosis and its comparison clauses, each translated on its own
        "msg.path.clauses": ("{head_text}; {rest_text}", "{head_text}; {rest_text}"),
        "msg.send": ("send: {os_text}", "gửi gói tin: {os_text}"),
        "msg.no_v6_route": (
            "no IPv6 route ({os_text}); is IPv6 configured here?",
            "không có tuyến IPv6 ({os_text}); máy giám sát đã cấu hình IPv6 chưa?",
        ),
        # names and connections (icmp, tcp, http, dns; probes.neterrors)
        "msg.resolve": (
            "cannot resolve {host}: {os_text}",
            "không phân giải được {host}: {os_text}",
        ),
        "msg.resolve_slow": (
            "resolving {host} did not finish before the deadline",
            "phân giải {host} không xong trước hạn chờ",
        ),
        "msg.no_address": (
            "{host} has no IPv4 or IPv6 address",
            "{host} không có địa chỉ IPv4 hay IPv6",
        ),
        "msg.refused": ("connection to {where} refused", "kết nối tới {where} bị từ chối"),
        "msg.connect": (
            "cannot connect to {where}: {os_text}",
            "không kết nối được tới {where}: {os_text}",
        ),
        "msg.no_answer": (
            "no answer from {host} within {seconds}s",
            "{host} không trả lời trong {seconds} giây",
        ),
        "msg.query_refused": ("{where} refused the query", "{where} từ chối truy vấn"),
        "msg.cannot_ask": ("cannot ask {host}: {os_text}", "không hỏi được {host}: {os_text}"),
        "msg.no_result": (
            "no result within {seconds}s ({stage_text})",
            "không có kết quả trong {seconds} giây ({stage_text})",
        ),
        "msg.no_result_got": (
            "no result within {seconds}s ({stage_text}, got {excerpt_raw})",
            "không có kết quả trong {seconds} giây ({stage_text}, đã nhận {excerpt_raw})",
        ),
        "msg.stage.connect": ("connecting to {where}", "đang kết nối tới {where}"),
        "msg.stage.tls": ("in the TLS handshake", "đang bắt tay TLS"),
        "msg.stage.send": ("sending", "đang gửi"),
        "msg.stage.expect": (
            "waiting for a reply matching {pattern_raw}",
            "đang chờ phản hồi khớp {pattern_raw}",
        ),
        "msg.where_os": ("{where}: {os_text}", "{where}: {os_text}"),
        "msg.local": (
            "{doing_text}: {what_text} ({errno}); the target was not checked",
            "{doing_text}: {what_text} ({errno}); đối tượng chưa được kiểm tra",
        ),
        "msg.doing.connect": ("cannot connect to {where}", "không kết nối được tới {where}"),
        "msg.doing.resolve": ("cannot resolve {host}", "không phân giải được {host}"),
        "msg.doing.send": ("send", "gửi gói tin"),
        "msg.local.emfile": (
            "no file descriptor left for this process (open files limit)",
            "tiến trình hết mô tả tệp (giới hạn số tệp mở)",
        ),
        "msg.local.enfile": (
            "no file descriptor left on this machine (system-wide limit)",
            "máy hết mô tả tệp (giới hạn toàn hệ thống)",
        ),
        "msg.local.enobufs": (
            "no socket buffer space left on this machine",
            "máy hết bộ đệm socket",
        ),
        "msg.local.enomem": (
            "out of memory for a socket on this machine",
            "máy hết bộ nhớ cho socket",
        ),
        # http
        "msg.http_timeout": (
            "no complete response within {seconds}s ({stage_text})",
            "không nhận đủ phản hồi trong {seconds} giây ({stage_text})",
        ),
        "msg.stage.connecting": ("connecting", "đang kết nối"),
        "msg.stage.resolving": ("resolving the host name", "đang phân giải tên máy"),
        "msg.stage.headers": ("waiting for the response headers", "đang chờ phần đầu phản hồi"),
        "msg.stage.body": ("reading the body", "đang đọc nội dung"),
        "msg.http_status": (
            "{status} from {url}, expected {expected_raw}",
            "{status} từ {url}, mong đợi {expected_raw}",
        ),
        "msg.http_status_redirects": (
            "{status} from {url} after {count} redirects, expected {expected_raw}",
            "{status} từ {url} sau {count} lần chuyển hướng, mong đợi {expected_raw}",
        ),
        "msg.http_status_redirect": (
            "{status} from {url} after 1 redirect, expected {expected_raw}",
            "{status} từ {url} sau 1 lần chuyển hướng, mong đợi {expected_raw}",
        ),
        # snmp
        "msg.snmp_no_response": ("no response", "không có phản hồi"),
        "msg.snmp_no_time": ("no time left before the deadline", "hết thời gian trước hạn chờ"),
        "msg.snmp_closed": ("the SNMP engine was closed", "bộ SNMP đã đóng"),
        "msg.snmp_sendto": ("sendto failed: {os_text}", "gửi gói tin thất bại: {os_text}"),
        "msg.snmp_socket": (
            "cannot open a UDP socket: {os_text}",
            "không mở được socket UDP: {os_text}",
        ),
        # device events (SNMP polls and traps, TLS) and monitor events
        "msg.reloaded": (
            "reloaded: {targets} targets; checks started {started}, stopped {stopped}, kept {kept}",
            "đã nạp lại: {targets} đối tượng; kiểm tra bắt đầu {started}, dừng {stopped}, "
            "giữ nguyên {kept}",
        ),
        "msg.if_up": ("interface {name_raw} is up", "cổng {name_raw} đã hoạt động"),
        "msg.if_down": ("interface {name_raw} is down", "cổng {name_raw} mất kết nối"),
        "msg.trap": ("{event_text} ({trap} trap)", "{event_text} (bẫy SNMP {trap})"),
        "msg.ups_trap": (
            "{event_text} (upsTrapOnBattery)",
            "{event_text} (bẫy SNMP upsTrapOnBattery)",
        ),
        "msg.alarm": ("{event_text} (alarm)", "{event_text} (báo động)"),
        "msg.alarm_cleared": ("{event_text} (alarm cleared)", "{event_text} (hết báo động)"),
        "msg.restarted": ("device restarted", "thiết bị đã khởi động lại"),
        "msg.rebooted": (
            "device rebooted (uptime was {previous}s, now {now}s)",
            "thiết bị đã khởi động lại (thời gian hoạt động trước đó {previous} giây, "
            "nay {now} giây)",
        ),
        "msg.on_battery": ("UPS is running on battery", "UPS đang chạy bằng ắc quy"),
        "msg.on_battery_left": (
            "UPS is running on battery, {minutes} min of battery left",
            "UPS đang chạy bằng ắc quy, ắc quy còn {minutes} phút",
        ),
        "msg.battery_low": ("UPS battery is low", "ắc quy UPS yếu"),
        "msg.battery_low_left": (
            "UPS battery is low, {minutes} min of battery left",
            "ắc quy UPS yếu, còn {minutes} phút",
        ),
        "msg.power_back": ("UPS input power is back", "UPS đã có điện lưới trở lại"),
        "msg.cert": (
            "certificate {subject_raw} {when_text} {date} {time} UTC "
            "({days} days left, cert_min_days {min_days})",
            "chứng chỉ {subject_raw} {when_text} {date} {time} UTC "
            "(còn {days} ngày, cert_min_days {min_days})",
        ),
        "msg.chain_cert": (
            "chain certificate {subject_raw} {when_text} {date} {time} UTC "
            "({days} days left, cert_min_days {min_days})",
            "chứng chỉ trung gian {subject_raw} {when_text} {date} {time} UTC "
            "(còn {days} ngày, cert_min_days {min_days})",
        ),
        "msg.cert_expires": ("expires", "hết hạn lúc"),
        "msg.cert_expired": ("expired", "đã hết hạn lúc"),
        "msg.slo_burn": ("SLO {name}: burn rate {rate}", "SLO {name}: tốc độ tiêu hao {rate}"),
        "msg.cannot_run": (
            "cannot run checks ({name} {kind}): {detail_text}",
            "không chạy được kiểm tra ({name} {kind}): {detail_text}",
        ),
        "msg.isolation": (
            "{failing}/{total} targets failing, {count} on their own",
            "{failing}/{total} đối tượng lỗi, {count} tự lỗi",
        ),
        "msg.isolation_roots": (
            "{failing}/{total} targets failing, {count} on their own: {names_raw}",
            "{failing}/{total} đối tượng lỗi, {count} tự lỗi: {names_raw}",
        ),
        "msg.isolation_canaries": (
            "canaries down: {names_raw}; {rest_text}",
            "thiết bị mốc mất kết nối: {names_raw}; {rest_text}",
        ),
        # the system's own words (strerror) inside messages
        "os.refused": ("Connection refused", "kết nối bị từ chối"),
        "os.no_route": ("No route to host", "không có tuyến tới máy đích"),
        "os.net_unreachable": ("Network is unreachable", "mạng không tới được"),
        "os.timed_out": ("Connection timed out", "kết nối quá thời gian chờ"),
        "os.reset": ("Connection reset by peer", "kết nối bị phía bên kia cắt"),
        "os.host_down": ("Host is down", "máy đích không hoạt động"),
        "os.unknown_name": ("Name or service not known", "tên hoặc dịch vụ không tồn tại"),
        "os.name_again": (
            "Temporary failure in name resolution",
            "lỗi tạm thời khi phân giải tên",
        ),
        "os.no_name_address": (
            "No address associated with hostname",
            "tên máy không có địa chỉ",
        ),
        "os.permission": ("Permission denied", "không có quyền"),
        "os.not_permitted": ("Operation not permitted", "thao tác không được phép"),
        "os.cannot_assign": (
            "Cannot assign requested address",
            "không gán được địa chỉ yêu cầu",
        ),
        "os.family": (
            "Address family not supported by protocol",
            "giao thức không hỗ trợ họ địa chỉ này",
        ),
    }
)

_FIELD = re.compile(r"\{([a-z_]+)\}")


def _pattern(english: str) -> re.Pattern[str]:
    parts = _FIELD.split(english)  # literal, field, literal, ...
    return re.compile(
        "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>{_field_regex(part)})"
            for i, part in enumerate(parts)
        ),
        re.DOTALL,
    )


def _field_regex(name: str) -> str:
    if name.endswith("_part"):  # a phrase within a "; "-separated list
        return r"[^;]+?"
    return r".+?" if name.endswith(("_text", "_raw")) else r"\S+?"


def _longest_literal(english: str) -> str:
    return max(_FIELD.split(english)[::2], key=len)


# The most specific first: the longest fixed text wins over a shorter pattern.
# Each pattern comes with its longest fixed piece: a substring test that rules
# most patterns out before a regex runs (a page of 10,000 failing targets).
_MESSAGES: tuple[tuple[str, str, re.Pattern[str]], ...] = tuple(
    sorted(
        (
            (key, _longest_literal(english), _pattern(english))
            for key, (english, _) in _TEXTS.items()
            if key.startswith(("msg.", "os."))
        ),
        key=lambda item: -len(_FIELD.sub("", _TEXTS[item[0]][0])),
    )
)


def message_words(message: str, t: Mapping[str, str]) -> str | None:
    """A check's message in ``t``'s language; ``None`` when no pattern knows it.

    English texts are the probes' own, so an English ``t`` returns ``message``.
    """
    if t["lang"] == "en":
        return message
    return _translate(message, t, 0)


def _translate(message: str, t: Mapping[str, str], depth: int) -> str | None:
    if depth > 4 or not message:
        return None
    for key, literal, pattern in _MESSAGES:
        if literal not in message:
            continue
        match = pattern.fullmatch(message)
        if match is None:
            continue
        fields: dict[str, str] = {}
        for name, value in match.groupdict().items():
            words = _translate(value, t, depth + 1) if name.endswith("_text") else value
            if words is None:
                break
            fields[name] = words
        else:
            return t[key].format(**fields)
    return None


def detail_words(message: str, t: Mapping[str, str]) -> str:
    """A check's full message as shown in a column of its own: as written when unknown."""
    return message_words(message, t) or message


def failure_words(kind: str, code: str, message: str, t: Mapping[str, str]) -> str:
    """``icmp: timeout (0/3 replies from 10.80.0.2 within the deadline)`` in ``t``'s
    language; the message is left out when it is not known in that language."""
    word = reason_word(code, t)
    detail = message_words(message, t) if message and message != code else None
    prefix = f"{kind}: " if kind else ""
    return f"{prefix}{word} ({detail})" if detail else f"{prefix}{word}"


def alert_cause(annotations: Mapping[str, str], words: Mapping[str, str]) -> str:
    """Why an alert fires, in the channel's language.

    A state alert carries the codes (``reason`` of the check result, ``cause`` of
    the outage) next to its English ``description``; they are put in words, with
    the check's message when the language knows it. Other alerts (a rule's own
    summary, a device event) show their description, translated when known.
    """
    description = annotations.get("description") or annotations.get("summary") or ""
    reason, cause = annotations.get("reason", ""), annotations.get("cause", "")
    if not reason and not cause:
        return detail_words(description, words)
    message = description.removesuffix(f" ({cause})") if cause else description
    what = failure_words("", reason, message, words) if reason else ""
    because = cause_words(cause, words)
    return "; ".join(part for part in (what, because) if part)


def alert_title(alertname: str, t: Mapping[str, str]) -> str:
    """A built-in alert's title in ``t``'s language; a rule's own name as written."""
    return t.get(f"alertname.{alertname}", alertname)


def cause_words(cause: str | None, t: Mapping[str, str]) -> str:
    """An outage's cause (``check:icmp,http``, ``parent:NAME``) in words."""
    if not cause:
        return ""
    if cause.startswith("parent:"):
        return t["reason.parent"].format(parent=cause.removeprefix("parent:"))
    kind, _, checks = cause.partition(":")
    if kind == "check":
        return t["cause.checks"].format(checks=checks) if checks else t["cause.check"]
    return cause


def reason_word(code: str, t: Mapping[str, str]) -> str:
    """A check's reason code (``timeout``) in words; unknown codes as they are."""
    return t.get(f"why.{code}", code.replace("_", " "))


def texts(language: str) -> Mapping[str, str]:
    """Every text in ``language`` (``en`` for anything else), read-only."""
    column = LANGUAGES.index(language) if language in LANGUAGES else 0
    return MappingProxyType({key: pair[column] for key, pair in _TEXTS.items()})


def missing_translations() -> list[str]:
    """Keys with an empty text in some language (a test keeps this empty)."""
    return [key for key, pair in _TEXTS.items() if not all(text.strip() for text in pair)]
