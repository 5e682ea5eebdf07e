// Prints the ISO 4217 list that the running JDK carries, as
// testdata/iso4217.tsv; scripts/refresh-iso4217 runs it. A single-file
// program: java scripts/refresh-iso4217.java (Java 11 or later).

import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.Comparator;
import java.util.Currency;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

class RefreshISO4217 {
	public static void main(String[] args) {
		// The countries each currency is the currency of today, by the JDK's
		// mapping, which applies ISO's dated transitions (ANG to XCG).
		Map<String, TreeSet<String>> countries = new TreeMap<>();
		for (String cc : Locale.getISOCountries()) {
			Currency c;
			try {
				c = Currency.getInstance(new Locale.Builder().setRegion(cc).build());
			} catch (IllegalArgumentException e) {
				continue; // a country the JDK has no currency data for
			}
			if (c != null) { // null: no currency (Antarctica)
				countries.computeIfAbsent(c.getCurrencyCode(), k -> new TreeSet<>()).add(cc);
			}
		}

		StringBuilder out = new StringBuilder();
		out.append("# ISO 4217: alphabetic and numeric codes, minor units, and the countries\n");
		out.append("# (ISO 3166) whose currency each code is on the date generated, from the\n");
		out.append("# java.util.Currency data of the JDK named, which follows the ISO 4217\n");
		out.append("# maintenance agency's amendments.\n");
		out.append("# Source: OpenJDK ").append(System.getProperty("java.runtime.version"))
			.append(" (").append(System.getProperty("java.vendor"))
			.append("), released ").append(System.getProperty("java.version.date")).append('\n');
		out.append("# Generated: ").append(LocalDate.now(ZoneOffset.UTC))
			.append(" by scripts/refresh-iso4217; do not edit by hand.\n");
		out.append("# minor: decimal places of the minor unit, - where ISO 4217 gives none\n");
		out.append("# (precious metals, SDR, testing and no-currency codes).\n");
		out.append("# countries: - for a code that is no country's currency today: a fund,\n");
		out.append("# a unit of account, or a withdrawn currency (the JDK keeps those).\n");
		out.append("code\tnumeric\tminor\tcountries\n");

		TreeSet<Currency> all = new TreeSet<>(Comparator.comparing(Currency::getCurrencyCode));
		all.addAll(Currency.getAvailableCurrencies());
		for (Currency c : all) {
			int minor = c.getDefaultFractionDigits();
			TreeSet<String> in = countries.get(c.getCurrencyCode());
			out.append(c.getCurrencyCode())
				.append('\t').append(c.getNumericCodeAsString())
				.append('\t').append(minor < 0 ? "-" : Integer.toString(minor))
				.append('\t').append(in == null ? "-" : String.join(",", in))
				.append('\n');
		}
		System.out.print(out);
	}
}
