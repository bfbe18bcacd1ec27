//! `$body` queries (edgeHub's BodyQueryTest, QueryValue.cs, JsonPath.g4) and
//! the content type and encoding rules (MessageQueryTest).

use super::*;

pub(super) const CASES: &[Case] = &[
    // BodyQueryTest, BodyQuery_Double_Success.
    ("50 >= $body.message.Weather.Temperature", weather, T),
    ("$BODY.message.Weather.Temperature >= 50", weather, T),
    ("$bODy.message.Weather.Temperature <= 50", weather, T),
    ("$bODY.message.Weather.Temperature = 50", weather, T),
    ("$BoDY.message.Weather.Temperature != 60", weather, T),
    ("$body.message.Weather.Temperature <> 500", weather, T),
    ("$body.message.Weather.Temperature = 40 + 10", weather, T),
    (
        "$body.message.Weather.Temperature >= $body.message.Weather.PrevTemperatures[0]",
        weather,
        T,
    ),
    (
        "$body.message.Weather.Temperature >= $body.message.Weather.PrevTemperatures[0] + $body.message.Weather.PrevTemperatures[1] ",
        weather,
        T,
    ),
    (
        "$body.message.Weather.PrevTemperatures[0] + $body.message.Weather.PrevTemperatures[1]= 50 ",
        weather,
        T,
    ),
    (
        "$body.message.Weather.PrevTemperatures[1] * $body.message.Weather.PrevTemperatures[2] = 1200",
        weather,
        T,
    ),
    (
        "$body.message.Weather.PrevTemperatures[1] / $body.message.Weather.PrevTemperatures[0] = 1.5",
        weather,
        T,
    ),
    (
        "$body.message.Weather.HistoricalData[0].Temperature - 10 = $body.message.Weather.HistoricalData[1].Temperature",
        weather,
        T,
    ),
    (
        "$body.message.Weather.HistoricalData[0].Month = 'Feb'",
        weather,
        T,
    ),
    // BodyQuery_Double_Failure: no implicit cross-type conversion.
    ("10 >= $body.message.Weather.Temperature", weather, F),
    ("$body.message.Weather.Temperature < 50", weather, F),
    ("$body.message.Weather.Temperature = '50'", weather, F),
    ("$body.message.Weather.Temperature != 50", weather, F),
    ("$body.message.Weather.Temperature <> 40 + 10", weather, F),
    (
        "$body.message.Weather.Temperature <= $body.message.Weather.PrevTemperatures[0]",
        weather,
        F,
    ),
    (
        "$body.message.Weather.PrevTemperatures[0] * $body.message.Weather.PrevTemperatures[1] = 610",
        weather,
        F,
    ),
    (
        "$body.message.Weather.PrevTemperatures[1] / $body.message.Weather.PrevTemperatures[0] = 3/3",
        weather,
        F,
    ),
    (
        "$body.message.Weather.HistoricalData[0].Temperature + 10 = $body.message.Weather.HistoricalData[1].Temperature",
        weather,
        F,
    ),
    // BodyQuery_String_Success and _Failure.
    ("$body.message.Weather.Temperature <> '100'", weather, T),
    ("$body.message.Weather.Location.City = City", weather, T),
    ("$body.message.Weather.Location.State = $State", weather, T),
    (
        "$body.message.Weather.Location.State <> $body.message.Weather.Location.City",
        weather,
        T,
    ),
    ("$body.message.Weather.Temperature ='100'", weather, F),
    ("$body.message.Weather.Location.City != City", weather, F),
    ("$body.message.Weather.Location.State != $State", weather, F),
    ("$body.message.Weather.Location.State = City", weather, F),
    (
        "$body.message.Weather.Location.State = $body.message.Weather.Location.City",
        weather,
        F,
    ),
    // BodyQuery_Bool and BodyQuery_Logical.
    ("$body.message.Weather.IsEnabled", weather, T),
    ("$body.message.Weather.IsEnabled = true", weather, T),
    ("$body.message.Weather.IsDisabled = false", weather, T),
    ("$body.message.Weather.IsDisabled <> true", weather, T),
    ("NOT $body.message.Weather.IsDisabled", weather, T),
    ("$body.message.Weather.InvalidKey <> '100'", weather, T),
    (
        "$body.message.Weather.IsEnabled AND $body.message.Weather.IsEnabled",
        weather,
        T,
    ),
    (
        "$body.message.Weather.IsEnabled OR $body.message.Weather.IsDisabled",
        weather,
        T,
    ),
    (
        "$body.message.Weather.IsDisabled OR NOT($body.message.Weather.IsDisabled)",
        weather,
        T,
    ),
    // BodyQuery_Undefined.
    ("$body", weather, U),
    (
        "$body.message.Weather.HistoricalData[0].Temperature.InvalidKey",
        weather,
        U,
    ),
    ("$City <> $body.message.Weather.InvalidKey", weather, U),
    // BodyQuery_SysPropertyConflict: an application property called
    // `$body.<path>` wins over the body, `{$body.<path>}` reads the body.
    (
        "$body.message.Weather.Temperature_PropertyConflict = '100'",
        weather,
        T,
    ),
    (
        "as_number($body.message.Weather.Temperature_PropertyConflict) = 100",
        weather,
        T,
    ),
    (
        "{$body.message.Weather.Temperature_PropertyConflict} <> 100",
        weather,
        T,
    ),
    ("$body.message.Weather.Location.State = 'WA'", weather, T),
    // BodyQuery_NotSupportedJTokenTime: a date string and an object are undefined.
    ("$body.message.Weather.Time <> '100'", weather, U),
    ("$body.message.Weather <> null", weather, U),
    // BodyQuery_Null: a path that matches nothing is null.
    ("$body.message.Weather.NullValue = null", weather, T),
    ("$body.message.Temperature = null", weather, T),
    ("$body.message.Weather.Temperature != null", weather, T),
    ("$body.message.Weather.Location.State <> null", weather, T),
    ("$body.message.Weather.InvalidProperty = null", weather, T),
    (
        "NOT ($body.message.Weather.InvalidProperty != null)",
        weather,
        T,
    ),
    // BodyQuery_Builtins.
    (
        "abs($body.message.Weather.FreezingTemperature) = 50.4",
        weather,
        T,
    ),
    (
        "ceiling(as_number($body.message.Weather.PreciseTemperature)) = 51",
        weather,
        T,
    ),
    (
        "concat($body.message.Weather.Location.Street, ', ', $body.message.Weather.Location.City, ', ', $body.message.Weather.Location.State) = 'One Microsoft Way, Redmond, WA'",
        weather,
        T,
    ),
    (
        "contains($body.message.Weather.Location.Street, 'Microsoft')",
        weather,
        T,
    ),
    (
        "ends_with($body.message.Weather.Location.Street, 'Way')",
        weather,
        T,
    ),
    (
        "exp(($body.message.Weather.Temperature - 49)) < ($body.message.Weather.Temperature - 47)",
        weather,
        T,
    ),
    (
        "index_of($body.message.Weather.Location.Street, 'Way') > 6",
        weather,
        T,
    ),
    (
        "is_defined($body.message.Weather.Location.Street)",
        weather,
        T,
    ),
    ("is_null($body.message.Weather.NullValue)", weather, T),
    (
        "is_string($body.message.Weather.Location.Street)",
        weather,
        T,
    ),
    (
        "length($body.message.Weather.Location.State) = 2",
        weather,
        T,
    ),
    (
        "lower($body.message.Weather.Location.State) = 'wa'",
        weather,
        T,
    ),
    (
        "power($body.message.Weather.Temperature, 2) = 2500.0",
        weather,
        T,
    ),
    (
        "power($body.message.Weather.Temperature, length($body.message.Weather.Location.State)) = 2500.0",
        weather,
        T,
    ),
    (
        "sign($body.message.Weather.FreezingTemperature) = -1",
        weather,
        T,
    ),
    (
        "square($body.message.Weather.Temperature) = 2500",
        weather,
        T,
    ),
    (
        "power($body.message.Weather.Temperature, length($body.message.Weather.Location.State)) = square($body.message.Weather.Temperature)",
        weather,
        T,
    ),
    (
        "starts_with($body.message.Weather.Location.Street, 'One')",
        weather,
        T,
    ),
    (
        "substring($body.message.Weather.Location.Street, length($body.message.Weather.Location.Street) - 3) = 'Way'",
        weather,
        T,
    ),
    (
        "substring($body.message.Weather.Location.Street, 4, length('Microsoft')) = 'Microsoft'",
        weather,
        T,
    ),
    (
        "upper($body.message.Weather.Location.Street) = 'ONE MICROSOFT WAY'",
        weather,
        T,
    ),
    // BodyQuery_RouteCompilation and JsonPath.g4: paths that do not compile.
    ("$body.properties[]", weather, E),
    ("$body.properties[1:2]", weather, E),
    ("$body;@", weather, E),
    ("$body.0 = 1", weather, E),
    ("$body.message['Weather'] = null", weather, E),
    ("$body. = 1", weather, E),
    // QueryValue.cs: $body values of different JSON types are unequal and
    // ordered bool < number < string < null.
    ("$body.message.Weather.Temperature < 'a'", weather, T),
    ("$body.message.Weather.IsEnabled < 0", weather, T),
    ("$body.message.Weather.Location.City > 1", weather, T),
    ("$body.message.Weather.InvalidProperty > 'z'", weather, T),
    (
        "$body.message.Weather.Location.City = 'redmond'",
        weather,
        F,
    ),
    ("$body.Message.Weather.Temperature = null", weather, T),
    // $body values in AND/OR and ??, and the builtins' QueryValue executors.
    (
        "$body.message.Weather.InvalidProperty AND false",
        weather,
        U,
    ),
    ("$body.message.Weather.IsEnabled OR 'x'", weather, U),
    ("$body.message.Weather.IsEnabled AND null", weather, E),
    (
        "($body.message.Weather.InvalidProperty ?? 5) = 5",
        weather,
        F,
    ),
    (
        "is_defined($body.message.Weather.InvalidProperty)",
        weather,
        T,
    ),
    ("is_null($body.message.Weather.InvalidProperty)", weather, F),
    // edgeHub says T here (a reference-equality bug); ganglion says F on purpose.
    ("is_null($body.message.Weather.Location.City)", weather, F),
    ("is_number($body.message.Weather.Location.City)", weather, F),
    ("is_bool($body.message.Weather.IsEnabled)", weather, T),
    ("- $body.message.Weather.Temperature = -50", weather, E),
    ("$body.message.Weather.Temperature % 7 = 1", weather, E),
    ("$body.message.Weather.PrevTemperatures", weather, U),
    (
        "$body.message.Weather.PrevTemperatures[5] = null",
        weather,
        T,
    ),
    ("$body.message.Weather.Temperature[0] = null", weather, T),
    ("$body.message.*.Temperature = 50", weather, T),
    (
        "$body.message.Weather.HistoricalData[1]['Month'] = 'Jan'",
        weather,
        T,
    ),
    (
        "{$body.message.Weather.Location.City} = 'Redmond'",
        weather,
        T,
    ),
    // MessageQueryTest: content type and encoding.
    ("$body.message.Weather.Temperature = 50", utf16, T),
    ("$body.message.Weather.Temperature = 50", utf32, T),
    ("$body.message.Weather.Temperature = 50", invalid_json, U),
    ("$body.message.Weather.Temperature = 50", invalid_bytes, U),
    ("$body.message.Weather.Temperature = 50", no_encoding, U),
    ("$body.message.Weather.Temperature = 50", no_content_type, U),
    (
        "$body.message.Weather.Temperature = 50",
        upper_content_type,
        T,
    ),
    (
        "$body.message.Weather.Temperature = 50",
        charset_content_type,
        U,
    ),
    (
        "$body.message.Weather.Temperature = 50",
        unknown_encoding,
        U,
    ),
    ("$body.message.Weather.Temperature = 50", array_body, U),
    ("$body.message.Weather.Temperature = 50", text_body, U),
    ("is_defined($body.message)", text_body, F),
    ("is_null($body.message)", text_body, U),
];
