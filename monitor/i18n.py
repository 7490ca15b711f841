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
    # Uptime bars (monitor/uptime_view.py).
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
        # Severities and notification states.
        "severity.critical": ("critical", "nghiêm trọng"),
        "severity.warning": ("warning", "cảnh báo"),
        "severity.info": ("info", "thông tin"),
        "status.firing": ("FIRING", "CẢNH BÁO"),
        "status.resolved": ("RESOLVED", "ĐÃ KHẮC PHỤC"),
        # Reasons of a failed check (ProbeResult.reason codes).
        "why.ok": ("ok", "bình thường"),
        "why.timeout": ("timeout", "hết thời gian chờ"),
        "why.down": ("down", "mất kết nối"),
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
    }
)


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
